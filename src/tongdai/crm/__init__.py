"""CRM: customers, contact points, the interaction timeline, cases; the screen pop's caller match."""
