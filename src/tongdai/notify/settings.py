"""Settings of outgoing e-mail (section `mail:` of tongdai.yaml)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class MailSettings(BaseModel):
    """Outgoing e-mail (voicemail and notices): the spool and the SMTP server it is sent through."""

    spool_dir: str = Field(
        "", description="The outbox: messages wait here (written to disk before they are accepted) until sent. "
        "Empty: <data_dir>/mail.",
    )
    smtp_host: str = Field("", description="SMTP server (relay) mail is sent through. Empty: mail is spooled, not sent.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (25, or 587 for submission with STARTTLS).")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before logging in and sending.")
    tls_ca_file: str = Field("", description="CA certificates (PEM) the SMTP server's certificate is checked "
                             "against with STARTTLS. Empty: the system's.")
    username: str = Field("", description="SMTP login (empty: no authentication).")
    password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    sender: str = Field("tongdai@localhost", description="Envelope sender and From address of tongdai's mail.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Longest wait for the SMTP server in one attempt.")
    max_attempts: int = Field(8, ge=1, le=100, description="Attempts before a message is moved to failed/.")
    retry_first_s: float = Field(30.0, gt=0, le=86400, description="Wait after the first failed attempt; doubles "
                                 "after each further one.")
    retry_max_s: float = Field(1800.0, gt=0, le=86400, description="Longest wait between two attempts.")
    keep_sent: bool = Field(True, description="Keep sent messages in sent/ (false: delete them once sent).")


def spool_root(data_dir: Path, configured: str = "") -> Path:
    """The outbox directory from the settings (`mail.spool_dir`, else `<data_dir>/mail`)."""
    return Path(configured) if configured else Path(data_dir) / "mail"
