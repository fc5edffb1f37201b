"""Evaluating generation policies: the reference side (features of real images or named statistics),
one (scheduler, steps) pair measured on shared seeds, and the written comparison report."""
