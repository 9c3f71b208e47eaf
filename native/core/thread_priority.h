// Background threads yield to the training thread (docs/ARCHITECTURE.md,
// "Threads"): the save pipeline's workers run at a lower scheduling
// priority, and the encoder threads they start inherit it.
#pragma once

namespace tk {

// Sets the calling thread's nice value to `nice` (only ever lowering its
// priority: no privilege needed) and returns the value now in effect, or
// -100 where threads have no nice value of their own (not Linux).
int lower_thread_priority(int nice);

}  // namespace tk
