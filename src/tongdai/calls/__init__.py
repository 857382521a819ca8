"""Call control: the back-to-back user agent that joins callers, agents' phones and trunks."""
