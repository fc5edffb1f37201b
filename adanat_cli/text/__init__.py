"""Text encoders for text-to-image generation, as plugins (``adanat.text_encoders``).

``base`` defines ``TextEncoder`` (prompts -> per-token context and a pooled vector) and ``TextEmbedding``;
``clip_bpe`` is OpenAI's CLIP byte-level BPE tokenizer; ``transformers_clip`` wraps a Hugging Face CLIP
text model; ``prompt_cache`` encodes each distinct prompt once. adanat's own CLIP text transformer lives
with the other networks, in ``adanat_cli/architectures/clip_text.py``.
"""
