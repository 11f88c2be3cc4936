"""Labels: confirmed outcomes and payment events of scored orders."""
