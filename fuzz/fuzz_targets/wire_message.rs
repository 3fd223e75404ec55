//! Every message kind's single-object decoder on arbitrary bytes: never panics, and whatever
//! decodes encodes again and decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeal_schemas::decode_any;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_any(data) {
        let bytes = message.encode().expect("a decoded message encodes");
        let again = decode_any(&bytes).expect("an encoded message decodes");
        assert_eq!(again, message);
    }
});
