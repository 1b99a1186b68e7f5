"""The card's procedures (手続き), one mixin per spec section, each method a command: check via
``lifecycle.card.rules``, then trigger the events. ``lifecycle.card.aggregate.Card`` combines
them.

May import: what its modules say; never the aggregate.
"""
