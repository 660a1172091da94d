"""Test infrastructure for sluice integration tests (Python 3 stdlib only).

Modules:
  postfix     -- PrivatePostfix: a throwaway, fully private Postfix instance
  fakebackend -- FakeBackend: a scriptable SMTP server for protocol faults
  sluice      -- Sluice: writes a config and runs the daemon in the foreground
  client      -- raw socket SMTP client, smtplib and swaks wrappers
  util        -- free_port(), wait_until(), temp-dir and process helpers
  runner      -- main() used by every test_*.py file
"""
