"""Training and evaluation of the router (aether.agents.router): data sources, training, figures.

Never deployed. Third-party text is not kept in the repository: each source is named by
repository, commit, path and sha256 (sources.py), read from a local mirror of the repository or
downloaded at that commit, and checked byte for byte. docs/ROUTER_DATA.md is the data card.
"""
