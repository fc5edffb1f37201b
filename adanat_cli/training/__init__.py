"""The learned AdaNAT policy: networks, action mapping, PPO training and reward models."""
