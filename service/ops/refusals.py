"""A start that cannot go on because of one setting: a dependency that answered and said no
(wrong credentials, an untrusted certificate) or a TLS file that does not load. Waiting does not
help, so the start stops at once with one line that names the setting and never its value.
"""

from __future__ import annotations


class Refused(Exception):
    """`setting` names the CALLCTL_* variable(s) to look at; `reason` says what happened."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason
