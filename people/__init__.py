"""People: users with their roles and API tokens, and the on-call plans that say who is on duty."""
