"""Static pages and ES modules served by Helpline (no build step)."""
