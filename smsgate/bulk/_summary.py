"""What a bulk send reports: `Progress`, given to ``on_progress`` as the run goes, and
`Summary`, its counts and the outcomes a caller needs after it."""

from __future__ import annotations

from collections import Counter

import attrs

from smsgate.outcomes import Outcome, OutcomeStatus, reason_of

__all__ = ["Progress", "Summary"]


@attrs.frozen
class Progress:
    """Running counts of a bulk send, given to its ``on_progress`` callback."""

    read: int
    """Inputs read so far."""
    accepted: int
    failed: int
    uncertain: int
    in_flight: int
    """Messages in requests that have not finished."""
    elapsed: float
    """Seconds since the run started."""
    suppressed: int = 0
    """Inputs not sent because their recipient opted out."""

    @property
    def done(self) -> int:
        """Inputs with an outcome."""
        return self.accepted + self.failed + self.uncertain + self.suppressed


@attrs.define
class Summary:
    """Counts of a bulk send, and the outcomes a caller needs after it.

    Attributes:
        keep: how many failed outcomes (and uncertain ones with their message) are kept.
        accepted, failed, uncertain, unsent, suppressed: outcomes of each kind; they add
            up to every input taken from the source (``suppressed``: recipients a
            suppression list held, refused before any request).
        resolved: uncertain sends that were looked up and found (counted in ``accepted``).
        earlier: inputs of a resumed journalled run that had their outcome from an earlier
            session (counted in the others too); nothing was sent for them now.
        reasons: failed outcomes by ``FailureReason`` (or the error's class when it has none).
        failures: the first ``keep`` failed outcomes.
        uncertainties: every uncertain outcome; past the first ``keep``, without its message
            (index, reference and key stay), so that a million-message run stays small.
        unsent_inputs: every unsent outcome, with its message: the run stopped before their
            requests left, so they are safe to send again. At most ``concurrency *
            chunk_size`` of them (in a resumed run, plus those its journal had read and not
            sent).
        unseen: outcomes the run could not hand to you because it was stopped (by you, or
            by an error) before you took them: accepted ones with their receipts, uncertain
            ones in flight at the stop, and every unsent one.
    """

    keep: int = 1000
    accepted: int = 0
    failed: int = 0
    uncertain: int = 0
    unsent: int = 0
    suppressed: int = 0
    resolved: int = 0
    earlier: int = 0
    reasons: Counter[str] = attrs.field(factory=Counter)
    failures: list[Outcome] = attrs.field(factory=list)
    uncertainties: list[Outcome] = attrs.field(factory=list)
    unsent_inputs: list[Outcome] = attrs.field(factory=list)
    unseen: list[Outcome] = attrs.field(factory=list)

    @property
    def total(self) -> int:
        """Inputs accounted for: every input taken from the source."""
        return self.accepted + self.failed + self.uncertain + self.unsent + self.suppressed

    def add(self, outcome: Outcome) -> None:
        """Count one outcome."""
        status = outcome.status
        if status is OutcomeStatus.ACCEPTED:
            self.accepted += 1
        elif status is OutcomeStatus.FAILED:
            self.failed += 1
            self.reasons[reason_of(outcome.error)] += 1
            if len(self.failures) < self.keep:
                self.failures.append(outcome)
        elif status is OutcomeStatus.UNCERTAIN:
            self.uncertain += 1
            if len(self.uncertainties) >= self.keep:
                outcome = attrs.evolve(outcome, message=None)
            self.uncertainties.append(outcome)
        elif status is OutcomeStatus.SUPPRESSED:
            self.suppressed += 1
        else:
            self.unsent += 1
            self.unsent_inputs.append(outcome)
