"""Fleet-wide analysis: effective graph, intended policy, drift, convergence and cost."""
