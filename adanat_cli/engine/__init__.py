"""The decoding loop shared by sample, compare, fid and train-policy: the loop itself (``loop``), many
images with per-index seeds (``sampling``), the compute it spends (``flops``) and process sharding
(``distributed``)."""
