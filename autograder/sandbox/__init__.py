"""Isolation of student code: the whitelist sandbox, the fork server, the wire format.

``isolation``  which sandbox this machine allows (bubblewrap whitelist, or none), decided once
``zygote``     the fork server inside the sandbox; ``student`` the student's process there
``confine``    per-student namespaces, mounts, limits and dropped capabilities
``session``    the grader's side: a zygote client and one session per submission
``codec``      the plain-data wire format (no pickle) between grader and student
"""
