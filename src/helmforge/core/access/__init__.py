"""Access: who acts. ``principals`` holds the ``Principal`` every service call receives and the
roles it may hold (the access-control issue adds permissions, scopes and policy evaluation here).
"""
