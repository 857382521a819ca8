"""The supervisor wallboard: live queue and agent figures streamed to supervisors."""
