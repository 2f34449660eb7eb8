"""Scaling a run past one device or past full fine-tuning: FSDP2 sharding (`fsdp`, train.fsdp) and LoRA
adapters with the bf16 autocast switch (`lora`, model.lora_r, model.autocast). Data parallel itself
(the torchrun environment and reductions) is reasonrl.dist."""
