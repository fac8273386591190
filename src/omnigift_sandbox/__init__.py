"""Faithful local simulators of the external platforms Omnigift speaks to.

Each simulator serves the platform's documented wire contract over real HTTP on loopback, plus a
private ``/__sim/`` control plane (our convention, not a vendor contract) to inject faults, drive
a checkout and dump state. The tests and ``omnigift sandbox <platform>`` use them.
"""
