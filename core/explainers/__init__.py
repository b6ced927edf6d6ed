"""Run -> Explanation: KernelSHAP, LIME, TreeSHAP, gradients and integrated gradients, one registry (METHODS)."""
