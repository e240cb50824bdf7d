package io.optune.engine;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EngineDeviceTest {
    @Test
    void parsesCpuGpuAndGpuN() {
        assertThat(EngineDevice.parse("cpu", () -> 0)).isEqualTo(Device.cpu());
        assertThat(EngineDevice.parse(" CPU ", () -> 0)).isEqualTo(Device.cpu());
        assertThat(EngineDevice.parse("gpu", () -> 1)).isEqualTo(Device.gpu(0));
        assertThat(EngineDevice.parse("gpu:1", () -> 2)).isEqualTo(Device.gpu(1));
        assertThat(EngineDevice.parse("cuda:0", () -> 1)).isEqualTo(Device.gpu(0));
    }

    @Test
    void aGpuThatIsNotThereIsRefusedWithWhatTheEngineSees() {
        assertThatThrownBy(() -> EngineDevice.parse("gpu", () -> 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sees none");
        assertThatThrownBy(() -> EngineDevice.parse("gpu:2", () -> 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sees 2 (gpu:0 .. gpu:1)");
    }

    @Test
    void malformedDevicesAreRefused() {
        for (String bad : new String[] {"", "tpu", "gpu:", "gpu:x", "gpu:-1", "gpu0"}) {
            assertThatThrownBy(() -> EngineDevice.parse(bad, () -> 4)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> EngineDevice.parse(null, () -> 4)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void onThisCpuOnlyEngineAGpuIsRefusedAtParseTime() {
        // The real engine here has CPU natives only: the option fails before any tensor is made.
        org.junit.jupiter.api.Assumptions.assumeTrue(ai.djl.engine.Engine.getInstance().getGpuCount() == 0);
        assertThatThrownBy(() -> EngineDevice.parse("gpu:0"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sees none");
        assertThat(EngineDevice.parse("cpu")).isEqualTo(Device.cpu());
    }
}
