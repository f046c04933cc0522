// Precompiled header shared by the torch-heavy libraries (models, sharding, worker).
#pragma once
#include <torch/torch.h>
