"""The LoDisc method: location-wise masks, contrastive losses, schedules, training views."""
