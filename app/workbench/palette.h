// Light and dark palettes for the whole application (Fusion style, so both look the
// same on every desktop).
#pragma once

#include "settings_store.h"

namespace workbench {

void applyTheme(Theme theme);

}  // namespace workbench
