"""Data-sharing policies, the one outbound projection every payload leaving OAO goes through, disclosures."""
