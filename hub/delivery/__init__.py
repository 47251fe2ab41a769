"""Getting warnings to people: routing policy, receivers, the outbox and its dispatcher."""
