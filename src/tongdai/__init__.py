"""tongdai: a self-hosted contact-centre platform."""

__version__ = "0.1.0"
