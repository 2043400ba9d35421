//! Run-time choice of the Burn backend.

use burn::tensor::{Device, DeviceKind};
use clap::ValueEnum;

/// The `--device` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceArg {
    /// Burn's flex CPU backend (the fast CPU default).
    Flex,
    /// Burn's ndarray CPU backend (deprecated upstream; same numbers, slower).
    Ndarray,
    /// wgpu: Vulkan/Metal/DX12 GPU, or CPU through a software Vulkan driver.
    Wgpu,
}

impl DeviceArg {
    /// The Burn device (without autodiff).
    pub fn device(self) -> Device {
        match self {
            DeviceArg::Flex => Device::flex(),
            #[allow(deprecated)]
            DeviceArg::Ndarray => Device::ndarray(),
            DeviceArg::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
        }
    }
}
