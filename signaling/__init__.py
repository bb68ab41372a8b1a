"""Signaling: the versioned JSON protocol spoken on /ws, the sans-I/O call
state machine, SDP and ICE candidate checks, and the WebSocket endpoint."""
