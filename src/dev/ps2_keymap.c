/* ps2_keymap.c — X11 keysyms (what VNC sends) to PS/2 scancodes of sets 1 and 2 on a US
 * keyboard, the i8042's set-2 to set-1 translation, and host keys into the keyboard. */
#include <errno.h>
#include <stddef.h>

#include "dev/dev.h"
#include "dev/i8042_priv.h"
#include "util/util.h"

#define E0(c) (0xe000 | (c))

/* One row per key: the keysym of its unshifted meaning (letters: lower case), make codes of set 1
 * and set 2. Keysyms from X11's keysymdef.h. */
static const struct ps2_key keys[] = {
    {0xff1b, 0x01, 0x76}, /* Escape */
    {'1', 0x02, 0x16},
    {'2', 0x03, 0x1e},
    {'3', 0x04, 0x26},
    {'4', 0x05, 0x25},
    {'5', 0x06, 0x2e},
    {'6', 0x07, 0x36},
    {'7', 0x08, 0x3d},
    {'8', 0x09, 0x3e},
    {'9', 0x0a, 0x46},
    {'0', 0x0b, 0x45},
    {'-', 0x0c, 0x4e},
    {'=', 0x0d, 0x55},
    {0xff08, 0x0e, 0x66}, /* BackSpace */
    {0xff09, 0x0f, 0x0d}, /* Tab */
    {'q', 0x10, 0x15},
    {'w', 0x11, 0x1d},
    {'e', 0x12, 0x24},
    {'r', 0x13, 0x2d},
    {'t', 0x14, 0x2c},
    {'y', 0x15, 0x35},
    {'u', 0x16, 0x3c},
    {'i', 0x17, 0x43},
    {'o', 0x18, 0x44},
    {'p', 0x19, 0x4d},
    {'[', 0x1a, 0x54},
    {']', 0x1b, 0x5b},
    {0xff0d, 0x1c, 0x5a}, /* Return */
    {0xffe3, 0x1d, 0x14}, /* Control_L */
    {'a', 0x1e, 0x1c},
    {'s', 0x1f, 0x1b},
    {'d', 0x20, 0x23},
    {'f', 0x21, 0x2b},
    {'g', 0x22, 0x34},
    {'h', 0x23, 0x33},
    {'j', 0x24, 0x3b},
    {'k', 0x25, 0x42},
    {'l', 0x26, 0x4b},
    {';', 0x27, 0x4c},
    {'\'', 0x28, 0x52},
    {'`', 0x29, 0x0e},
    {0xffe1, 0x2a, 0x12}, /* Shift_L */
    {'\\', 0x2b, 0x5d},
    {'z', 0x2c, 0x1a},
    {'x', 0x2d, 0x22},
    {'c', 0x2e, 0x21},
    {'v', 0x2f, 0x2a},
    {'b', 0x30, 0x32},
    {'n', 0x31, 0x31},
    {'m', 0x32, 0x3a},
    {',', 0x33, 0x41},
    {'.', 0x34, 0x49},
    {'/', 0x35, 0x4a},
    {0xffe2, 0x36, 0x59}, /* Shift_R */
    {0xffaa, 0x37, 0x7c}, /* KP_Multiply */
    {0xffe9, 0x38, 0x11}, /* Alt_L */
    {0xffe7, 0x38, 0x11}, /* Meta_L: Alt */
    {' ', 0x39, 0x29},
    {0xffe5, 0x3a, 0x58}, /* Caps_Lock */
    {0xffbe, 0x3b, 0x05},
    {0xffbf, 0x3c, 0x06},
    {0xffc0, 0x3d, 0x04},
    {0xffc1, 0x3e, 0x0c},
    {0xffc2, 0x3f, 0x03},
    {0xffc3, 0x40, 0x0b},
    {0xffc4, 0x41, 0x83},
    {0xffc5, 0x42, 0x0a},
    {0xffc6, 0x43, 0x01},
    {0xffc7, 0x44, 0x09}, /* F1-F10 */
    {0xff7f, 0x45, 0x77}, /* Num_Lock */
    {0xff14, 0x46, 0x7e}, /* Scroll_Lock */
    {0xffb7, 0x47, 0x6c},
    {0xffb8, 0x48, 0x75},
    {0xffb9, 0x49, 0x7d},
    {0xffad, 0x4a, 0x7b},
    {0xffb4, 0x4b, 0x6b},
    {0xffb5, 0x4c, 0x73},
    {0xffb6, 0x4d, 0x74},
    {0xffab, 0x4e, 0x79},
    {0xffb1, 0x4f, 0x69},
    {0xffb2, 0x50, 0x72},
    {0xffb3, 0x51, 0x7a},
    {0xffb0, 0x52, 0x70},
    {0xffae, 0x53, 0x71}, /* keypad 7 8 9 - 4 5 6 + 1 2 3 0 . */
    {0xff95, 0x47, 0x6c},
    {0xff97, 0x48, 0x75},
    {0xff9a, 0x49, 0x7d},
    {0xff96, 0x4b, 0x6b},
    {0xff9d, 0x4c, 0x73},
    {0xff98, 0x4d, 0x74},
    {0xff9c, 0x4f, 0x69},
    {0xff99, 0x50, 0x72},
    {0xff9b, 0x51, 0x7a},
    {0xff9e, 0x52, 0x70},
    {0xff9f, 0x53, 0x71}, /* the same, NumLock off */
    {0xffc8, 0x57, 0x78},
    {0xffc9, 0x58, 0x07},         /* F11, F12 */
    {0xff8d, E0(0x1c), E0(0x5a)}, /* KP_Enter */
    {0xffe4, E0(0x1d), E0(0x14)}, /* Control_R */
    {0xffaf, E0(0x35), E0(0x4a)}, /* KP_Divide */
    {0xffea, E0(0x38), E0(0x11)}, /* Alt_R */
    {0xfe03, E0(0x38), E0(0x11)}, /* ISO_Level3_Shift (AltGr): Alt_R */
    {0xff50, E0(0x47), E0(0x6c)}, /* Home */
    {0xff52, E0(0x48), E0(0x75)}, /* Up */
    {0xff55, E0(0x49), E0(0x7d)}, /* Page_Up */
    {0xff51, E0(0x4b), E0(0x6b)}, /* Left */
    {0xff53, E0(0x4d), E0(0x74)}, /* Right */
    {0xff57, E0(0x4f), E0(0x69)}, /* End */
    {0xff54, E0(0x50), E0(0x72)}, /* Down */
    {0xff56, E0(0x51), E0(0x7a)}, /* Page_Down */
    {0xff63, E0(0x52), E0(0x70)}, /* Insert */
    {0xffff, E0(0x53), E0(0x71)}, /* Delete */
    {0xffeb, E0(0x5b), E0(0x1f)}, /* Super_L */
    {0xffec, E0(0x5c), E0(0x27)}, /* Super_R */
    {0xff67, E0(0x5d), E0(0x2f)}, /* Menu */
};

/* Characters typed with Shift on a US keyboard, and the unshifted keysym of their key. */
static const struct {
    char c, base;
} shifted[] = {
    {'!', '1'},  {'@', '2'}, {'#', '3'},  {'$', '4'}, {'%', '5'}, {'^', '6'}, {'&', '7'},
    {'*', '8'},  {'(', '9'}, {')', '0'},  {'_', '-'}, {'+', '='}, {'{', '['}, {'}', ']'},
    {'|', '\\'}, {':', ';'}, {'"', '\''}, {'~', '`'}, {'<', ','}, {'>', '.'}, {'?', '/'},
};

static const struct ps2_key *find(uint32_t keysym)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (keys[i].keysym == keysym)
            return &keys[i];
    return NULL;
}

const struct ps2_key *ps2_key_find(uint32_t keysym, bool *shift)
{
    *shift = false;
    if (keysym >= 'A' && keysym <= 'Z') {
        *shift = true;
        return find(keysym + ('a' - 'A'));
    }
    for (size_t i = 0; i < ARRAY_SIZE(shifted); i++)
        if ((uint32_t)(unsigned char)shifted[i].c == keysym) {
            *shift = true;
            return find((unsigned char)shifted[i].base);
        }
    return find(keysym);
}

uint8_t ps2_xlate(uint8_t b)
{
    /* answers to "get scan set" (0xf0 0x00) that are no key, then every key's set-2 byte */
    static const uint8_t from[] = {0x02};
    static const uint8_t to[] = {0x41};
    for (size_t i = 0; i < ARRAY_SIZE(from); i++)
        if (b == from[i])
            return to[i];
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if ((keys[i].set2 & 0xff) == b)
            return (uint8_t)keys[i].set1;
    return b;
}

/* The bytes of KEY going DOWN or up in scan set SET into OUT; returns their count. */
static unsigned key_bytes(const struct ps2_key *key, unsigned set, bool down, uint8_t *out)
{
    unsigned n = 0;
    uint16_t code = set == 1 ? key->set1 : key->set2;
    if (code >> 8)
        out[n++] = 0xe0;
    if (set == 1) {
        out[n++] = (uint8_t)(code | (down ? 0 : 0x80));
    } else {
        if (!down)
            out[n++] = 0xf0;
        out[n++] = (uint8_t)code;
    }
    return n;
}

int i8042_keysym(struct vm *vm, uint32_t keysym, bool down)
{
    static const struct ps2_key lshift = {0xffe1, 0x2a, 0x12};
    struct i8042 *k = i8042_find(vm);
    bool shift;
    const struct ps2_key *key = ps2_key_find(keysym, &shift);
    if (!key)
        return -ENOENT;
    if (!k)
        return -ENODEV;
    pthread_mutex_lock(&k->lock);
    /* the keyboard sends set 1 bytes itself when asked to; else set 2, which the controller
     * translates (set 3 is answered with set 2 codes) */
    unsigned set = k->s.kbd_set == 1 ? 1 : 2;
    uint8_t b[16];
    unsigned n = 0;
    int rc = 0;
    if (keysym == 0xffe1 || keysym == 0xffe2)
        k->shift_held = down;
    bool wrap = shift && !k->shift_held && down;
    if (wrap)
        n += key_bytes(&lshift, set, true, b + n);
    n += key_bytes(key, set, down, b + n);
    if (wrap) { /* the key goes up at once too, so Shift never outlives it */
        n += key_bytes(key, set, false, b + n);
        n += key_bytes(&lshift, set, false, b + n);
    }
    if (!k->s.kbd_scan || (k->s.ram[0] & CTR_KBDDIS))
        rc = -EAGAIN;
    else if (!(shift && !k->shift_held && !down)) /* its release was sent with the press */
        rc = host_fifo_put(&k->kin, b, n);
    i8042_pump(k);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* Linux input key codes are set-1 make codes for the keys without E0 (KEY_ESC 1 .. KEY_F12 88);
 * the E0 keys have codes of their own. */
static int set1_to_evdev(uint16_t set1)
{
    static const struct {
        uint8_t e0;
        uint8_t code;
    } e0keys[] = {
        {0x1c, 96},  /* KEY_KPENTER */
        {0x1d, 97},  /* KEY_RIGHTCTRL */
        {0x35, 98},  /* KEY_KPSLASH */
        {0x38, 100}, /* KEY_RIGHTALT */
        {0x47, 102}, /* KEY_HOME */
        {0x48, 103}, /* KEY_UP */
        {0x49, 104}, /* KEY_PAGEUP */
        {0x4b, 105}, /* KEY_LEFT */
        {0x4d, 106}, /* KEY_RIGHT */
        {0x4f, 107}, /* KEY_END */
        {0x50, 108}, /* KEY_DOWN */
        {0x51, 109}, /* KEY_PAGEDOWN */
        {0x52, 110}, /* KEY_INSERT */
        {0x53, 111}, /* KEY_DELETE */
        {0x5b, 125}, /* KEY_LEFTMETA */
        {0x5c, 126}, /* KEY_RIGHTMETA */
        {0x5d, 127}, /* KEY_COMPOSE */
    };
    if (!(set1 >> 8))
        return set1;
    for (size_t i = 0; i < ARRAY_SIZE(e0keys); i++)
        if (e0keys[i].e0 == (set1 & 0xff))
            return e0keys[i].code;
    return -ENOENT;
}

int keysym_to_evdev(uint32_t keysym, bool *shift)
{
    const struct ps2_key *key = ps2_key_find(keysym, shift);
    return key ? set1_to_evdev(key->set1) : -ENOENT;
}
