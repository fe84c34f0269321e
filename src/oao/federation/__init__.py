"""Links to other OAO (or compatible) instances: invitations, RFC 9421 signed requests, capabilities."""
