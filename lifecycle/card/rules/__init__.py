"""The card's rules as pure check functions, one module per section of the spec
(/work/shared/spec/rules.md §2):

- ``status``: the card's state allows the procedure at all (ended, lapsed, not yet handed
  over, suspended; spec §3);
- ``application``: application, acceptance, production, fees, cancellation (§2.1: R02–R12);
- ``handover``: pickup notice and handover (交付, §2.1: R13–R18);
- ``in_use``: suspension and card-information changes (§2.6: R49, R50, R53; R33);
- ``residence``: moves and the period of stay (§2.2–2.3: R23, R24, R27–R30);
- ``ends``: loss, return, invalidation (§2.3, §2.6: R31, R32, R51, R52);
- ``certificates``: what certificates the card may carry (§2.4–2.5: R34, R40–R42, R45, R48);
- ``pins``: PINs and the face-recognition card (§2.7: R54–R58).

Like ``lifecycle.fees`` and ``lifecycle.documents``, each function takes plain values (never
the aggregate) and raises ``RuleViolation`` naming the rule, or answers what the rule decides.

May import: the standard library, ``lifecycle`` leaf modules (calendar, decisions, documents,
errors, fees, filers, pins, certificate_rules, validity) and ``lifecycle.card.vocabulary``.
"""

from lifecycle.card.rules import application, certificates, ends, handover, in_use, pins, residence, status

__all__ = ["application", "certificates", "ends", "handover", "in_use", "pins", "residence", "status"]
