"""What trains a generation policy: PPO over the decoding loop, exploring rollouts, reward models and
the adversarial discriminator. The policy network itself, and the scheduler that runs a trained
one, live in ``schedulers`` (``adanat_network``, ``adanat``)."""
