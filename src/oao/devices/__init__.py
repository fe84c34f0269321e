"""Connected devices: a member's machines report levels and reorder within the member's rules."""
