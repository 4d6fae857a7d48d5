//! Built-in `core/*` steps, so operators can try the engine without any AI.

pub(crate) mod echo;
mod fail;
mod sleep;

use super::StepRegistry;

pub fn register(registry: &mut StepRegistry) {
    registry.register("core/echo", echo::Echo);
    registry.register("core/sleep", sleep::Sleep);
    registry.register("core/fail", fail::Fail);
}
