"""Errors of scheduled callbacks. Their `error_id`s are part of the public API: never rename one."""

from __future__ import annotations

from tongdai.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class DueInPast(InvalidInput):
    error_id = "callback_due_in_past"
    message = "the callback's time is in the past"


class DueTooFar(InvalidInput):
    error_id = "callback_due_too_far"
    message = "the callback's time is more than a year ahead"


class InvalidNumber(InvalidInput):
    error_id = "invalid_phone"
    message = "the number is not a phone number"


class QueueNotFound(NotFound):
    error_id = "queue_not_found"
    message = "no queue of that name"


class AgentNotFound(NotFound):
    error_id = "agent_not_found"
    message = "no such agent"


class CustomerNotFound(NotFound):
    error_id = "customer_not_found"
    message = "no such customer"


class NotAnAgent(InvalidInput):
    error_id = "not_an_agent"
    message = "only a user who is an agent can keep a callback for themselves"


class AgentNotInQueue(InvalidInput):
    error_id = "agent_not_in_queue"
    message = "the agent does not serve the callback's queue"


class CallbackNotFound(NotFound):
    error_id = "not_found"  # like every other object of another tenant or out of the caller's reach
    message = "no such callback"


class NotScheduled(Conflict):
    error_id = "callback_not_scheduled"
    message = "only a scheduled callback can be cancelled or rescheduled"


class NotYours(Forbidden):
    error_id = "callback_not_yours"
    message = "agents change only the callbacks they booked or that are theirs to make"
