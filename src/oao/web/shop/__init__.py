"""The shopper storefront (/shop): phone first, for anyone, members or not."""
