// A C interface to WebRTC's AEC3 that gives, per 10 ms frame, both the suppressed output and the
// linear filter's output, with the filter length and the suppressor's masking thresholds settable.
//
// Why: the Python bindings on PyPI return only the suppressed output and use the default config.
// Under double talk the suppressor thins the user's words (the wake word's first syllable, what the
// STT hears); the linear output keeps them, at the price of some residual echo. The listener uses
// the suppressed output to tell speech from echo and the linear output for the words
// (docs/design/echo-cancellation.md). Built by the `webrtc-aec3` model recipe against the WebRTC
// sources that the pywebrtc-audio sdist carries (edge_agent/models/recipes/aec3.py); loaded with
// ctypes by edge_agent/audio/echo.py. No allocation per frame: the buffers are made once.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "api/echo_canceller3_config.h"
#include "api/echo_canceller3_factory.h"
#include "api/echo_control.h"
#include "audio_processing/audio_buffer.h"
#include "audio_processing/audio_frame.h"
#include "audio_processing/high_pass_filter.h"

namespace {

constexpr int kRate = 16000;
constexpr int kFrame = kRate / 100;

struct Aec3 {
  std::unique_ptr<webrtc::EchoControl> aec;
  webrtc::AudioBuffer mic{kRate, 1, kRate, 1, kRate, 1};
  webrtc::AudioBuffer ref{kRate, 1, kRate, 1, kRate, 1};
  webrtc::AudioBuffer linear{kRate, 1, kRate, 1, kRate, 1};
  webrtc::HighPassFilter hpf{kRate, 1};
  webrtc::AudioFrame frame;
  int delay_ms = 0;
};

int16_t to_int16(float v) {
  return static_cast<int16_t>(std::lrintf(v > 32767.f ? 32767.f : (v < -32768.f ? -32768.f : v)));
}

}  // namespace

extern "C" {

// Bump when the interface below changes: the Python side refuses a library of another version.
int edge_aec3_version() { return 1; }

// filter_blocks: the linear filter's length in 4 ms blocks (AEC3's default is 13);
// masks: the suppressor's normal tuning {lf.enr_transparent, lf.enr_suppress, hf.enr_transparent,
// hf.enr_suppress}, or null for AEC3's defaults.
void* edge_aec3_new(int filter_blocks, const float* masks) {
  webrtc::EchoCanceller3Config config;
  config.filter.export_linear_aec_output = true;
  if (filter_blocks > 0) {
    // the initial phase keeps AEC3's short filter: a long one converges later, and the first reply
    // after start cut itself off in rooms whose echo came late
    config.filter.main.length_blocks = filter_blocks;
    config.filter.shadow.length_blocks = filter_blocks;
  }
  if (masks != nullptr) {
    auto& tuning = config.suppressor.normal_tuning;
    tuning.mask_lf.enr_transparent = masks[0];
    tuning.mask_lf.enr_suppress = masks[1];
    tuning.mask_hf.enr_transparent = masks[2];
    tuning.mask_hf.enr_suppress = masks[3];
  }
  if (!config.Validate(&config)) {
    return nullptr;
  }
  auto* state = new Aec3();
  state->aec = webrtc::EchoCanceller3Factory(config).Create(kRate, 1, 1);
  return state;
}

void edge_aec3_free(void* handle) { delete static_cast<Aec3*>(handle); }

void edge_aec3_set_delay(void* handle, int delay_ms) { static_cast<Aec3*>(handle)->delay_ms = delay_ms; }

// One 10 ms frame (160 samples) of microphone and reference in; the suppressed and the linear
// output written to `out` and `linear`.
void edge_aec3_process(void* handle, const int16_t* mic, const int16_t* ref, int16_t* out, int16_t* linear) {
  auto* s = static_cast<Aec3*>(handle);
  s->frame.UpdateFrame(0, ref, kFrame, kRate, webrtc::AudioFrame::kNormalSpeech, webrtc::AudioFrame::kVadActive, 1);
  s->ref.CopyFrom(&s->frame);
  s->aec->AnalyzeRender(&s->ref);
  s->frame.UpdateFrame(0, mic, kFrame, kRate, webrtc::AudioFrame::kNormalSpeech, webrtc::AudioFrame::kVadActive, 1);
  s->mic.CopyFrom(&s->frame);
  s->aec->AnalyzeCapture(&s->mic);
  s->hpf.Process(&s->mic, true);
  s->aec->SetAudioBufferDelay(s->delay_ms);
  s->aec->ProcessCapture(&s->mic, &s->linear, false);
  const float* cleaned = s->mic.channels_const()[0];
  const float* lin = s->linear.channels_const()[0];
  for (int i = 0; i < kFrame; ++i) {
    out[i] = to_int16(cleaned[i]);
    linear[i] = to_int16(lin[i]);
  }
}

}  // extern "C"
