"""Scheduled callbacks: an agent promises a customer a call at a given time; tongdai places it then."""
