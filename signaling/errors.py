"""The one exception root of Helpline, with a subclass per area.

Every error carries `code`, a protocol error code from docs/protocol.md that
the server can put in an `error` event, and `recoverable`: True when the
session (or the process) stays as it was and the caller may simply carry on,
False when the thing that raised cannot be used any more. The message of the
exception is a sentence for people; it never holds phone numbers or digits.
"""


class HelplineError(Exception):
    """Root of every error Helpline raises on purpose."""

    code: str = "internal"
    recoverable: bool = False


class SignalingError(HelplineError):
    """A request or a message from a client that cannot be acted on."""

    code = "invalid-message"
    recoverable = True


class SdpError(SignalingError):
    """A session description that failed the checks in `signaling.sdp`.

    `line` is the 1-based number of the offending line, when there is one.
    """

    code = "invalid-sdp"

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class CandidateError(SignalingError):
    """A trickled ICE candidate that failed the checks in `signaling.ice`."""

    code = "invalid-candidate"


class StoreError(HelplineError):
    """The shared state (Redis) could not be read or written."""


class ConfigError(HelplineError):
    """A setting that stops Helpline from starting.

    `setting` names it as the operator writes it; `fix` says what to do.
    """

    code = "invalid-config"

    def __init__(self, message: str, *, setting: str, fix: str) -> None:
        super().__init__(message)
        self.setting = setting
        self.fix = fix


class IvrError(HelplineError):
    """A menu that cannot be published or an IVR step that cannot run."""


class SipError(HelplineError):
    """A SIP dialog, trunk or media worker fault."""
