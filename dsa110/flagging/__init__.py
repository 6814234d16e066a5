"""dsa110.flagging."""
