"""Accounts, login, password rules and scoping: who may see and change what."""
