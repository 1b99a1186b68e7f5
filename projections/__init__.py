"""mynacard's read side: status and history answers, event JSON shapes, and (later) read
models that follow the event log."""
