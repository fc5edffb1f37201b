"""The decoding loop shared by sample, compare, fid and train-policy."""
