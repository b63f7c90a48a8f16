"""Returnline's decision core: pure rules, no I/O, no clock (time is an argument).

Entry point: `rules.plan.plan(facts, policy, mappings, now) -> Plan`. See rules/plan.py for the
order the rules run in, and each rule's module for the business rule in words.
"""
