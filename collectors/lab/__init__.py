"""A netfilter lab in network namespaces: hosts, crafted probes and the kernel's own trace.

Standard library only, so that the lab runs wherever the agent runs. `netns` builds the
namespaces and loads rule sets, `probes` crafts and sends raw IPv4 packets, `trace` reads
`xtables-monitor --trace` and turns it into a verdict and a deciding rule per probe.
"""
