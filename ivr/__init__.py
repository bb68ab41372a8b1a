"""The IVR: menu model, validator and interpreter (sans-I/O)."""
