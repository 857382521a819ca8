"""Notifications that leave tongdai: durable outgoing e-mail (`mail.py`) and its settings."""

from tongdai.notify.mail import DeliveryError, MailService, MailTransport, Outbox, RetryPolicy, SmtpTransport
from tongdai.notify.settings import MailSettings, spool_root

__all__ = ["DeliveryError", "MailService", "MailSettings", "MailTransport", "Outbox", "RetryPolicy",
           "SmtpTransport", "spool_root"]
