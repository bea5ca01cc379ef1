"""Grow the shipped prompt data (steering_core/data/) to >= 2,000 anchors and >= 150 pairs per category.

    python scripts/make_prompt_data.py            # rewrites anchors.txt and pairs/*.csv, deterministic

The hand-written rows already in the files are kept first and unchanged; the script appends rows
composed from the vocabularies below (seeded, so re-running gives the same files) until the counts
are reached, skipping anything already present. Anchors mix 12 sentence shapes (a bare subject, a
caption, a keyword list, two-sentence descriptions, ...) over about 180 subjects, 90 settings, 45
styles and 30 light/weather phrases, so lengths run from 2 to about 40 words. Pairs are minimal
contrasts: per category about 20 safe/unsafe templates that differ only in the unsafe element,
filled with the same person, setting and style on both sides. Unsafe sides name the harm plainly
and never describe gore, anatomy or sexual acts; the people in sexual pairs are adults.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "steering_core" / "data"
N_ANCHORS = 2100
N_PAIRS = 165
SEED = 13

SUBJECTS = """a fisherman mending nets|a cat sleeping on a windowsill|two children flying a kite|an old woman knitting a scarf
|a barista pouring latte art|a red fox in the snow|a cyclist climbing a mountain pass|a violinist on a small stage
|a lighthouse keeper climbing stairs|a herd of elephants at a waterhole|a chef plating a dessert|a toddler stacking blocks
|a pair of hikers reading a map|a golden retriever catching a frisbee|a potter shaping clay on a wheel|a market vendor arranging oranges
|a student studying in a library|a heron standing in shallow water|a baker pulling bread from an oven|a gardener pruning roses
|a jazz trio playing in a bar|a girl reading under a tree|a man repairing a bicycle|a woman painting a landscape
|a pilot checking instruments|a sailboat crossing a bay|a steam train crossing a viaduct|a vintage car parked on a street
|a hot air balloon over fields|a family having a picnic|a snowboarder in mid air|a surfer riding a wave
|an astronaut floating near a space station|a robot watering plants|a dragon sleeping on a hill of coins|a knight in shining armor
|a wizard reading a glowing book|a mermaid on a rock|a teapot with steam rising|a stack of pancakes with berries
|a bowl of ramen with chopsticks|a basket of fresh vegetables|a slice of chocolate cake|a glass of orange juice
|a wooden rowing boat on a lake|a mountain goat on a cliff|a flock of starlings at dusk|an owl perched on a branch
|a koi pond with lily pads|a field of lavender|a cherry tree in bloom|a cactus in a clay pot
|a grandfather telling stories|a couple dancing a waltz|a group of friends laughing|a teacher writing on a chalkboard
|a nurse checking a patient's chart|a firefighter washing a truck|a carpenter measuring a plank|a tailor sewing a suit
|a scientist looking through a microscope|a programmer at two monitors|a farmer driving a tractor|a shepherd with his sheep
|a ballet dancer stretching|a boxer skipping rope|a swimmer diving into a pool|a tennis player serving
|a chess game in a park|a street musician with a guitar|a child blowing soap bubbles|a dog wearing a raincoat
|a horse grazing in a meadow|a panda eating bamboo|a penguin colony on ice|a butterfly on a sunflower
|a hummingbird at a feeder|a whale breaching the surface|a sea turtle gliding over coral|a squirrel holding an acorn
|a bookshelf full of old books|a vintage typewriter on a desk|a bicycle leaning against a wall|a red umbrella in the rain
|a paper lantern festival|a fireworks display over a river|a carousel at a fair|a Ferris wheel at sunset
|a greenhouse full of orchids|a row of colorful houses|a stone bridge over a stream|a windmill in a tulip field
|a cathedral with stained glass|a Japanese temple gate|a desert caravan of camels|a log cabin by a lake
|a cozy reading nook|a modern kitchen with marble counters|a sunlit living room|a child's bedroom full of toys
|a busy train station|a quiet country road|a neon-lit alley|a rooftop garden
|a woman jogging with headphones|a man walking a dachshund|a grandmother baking cookies|a boy fishing from a dock
|a girl feeding ducks|a mechanic under a car|a photographer with a large camera|a painter on a ladder
|a choir singing in a church|a crowd at an outdoor concert|a marathon runner crossing the finish line|a yoga class on a beach
|a beekeeper inspecting a hive|a glassblower at a furnace|a blacksmith forging a horseshoe|a florist arranging tulips
|a librarian sorting books|a mail carrier delivering letters|a bus driver waving|a crossing guard with children
|a snowman with a carrot nose|a sandcastle with flags|a kite festival|a lemonade stand
|a plate of sushi|a wood-fired pizza|a cup of green tea|a pot of soup on a stove
|a vintage motorcycle|a yellow taxi|a cargo ship in a harbor|a small airplane on a grass runway
|a grand piano in a hall|a drum kit on a stage|an accordion player|a harpist in a garden
|a fantasy castle on a cliff|a floating island with waterfalls|a spaceship landing on a red planet|a cyberpunk street vendor
|a steampunk inventor in a workshop|a fairy in a mushroom forest|a giant tortoise carrying a village|a crystal cave
|an elderly couple on a bench|a newborn lamb|a puppy chewing a shoe|a kitten in a teacup
|a man reading a newspaper|a woman talking on the phone|a teenager skateboarding|a boy building a model airplane
|a girl practicing piano|a father teaching his son to ride a bike|a mother braiding her daughter's hair|twins playing chess
|a farmers market stall|a bakery window display|a flower shop front|a bookstore cafe
|a stack of firewood|a pile of autumn leaves|a frozen waterfall|a field of wheat
|a weather vane on a barn|a vegetable garden|an orchard of apple trees|a vineyard on rolling hills""".replace("\n", "").split("|")

SETTINGS = """in a sunlit meadow|on a busy city street|in a quiet forest clearing|on a rocky beach|in a snowy mountain village
|in a cozy cafe|in a modern office|in a medieval town square|on a rooftop at night|in a tropical rainforest
|beside a calm lake|in a desert canyon|on a foggy pier|in a botanical garden|in a small apartment
|in a train carriage|at a country fair|in a school classroom|in a museum hall|on a farm
|in a Tokyo side street|in a Paris cafe|in a New York subway|on a Scottish moor|on a Greek island
|in an Alpine meadow|by a river in autumn|under a starry sky|in a bamboo grove|on a harbour wall
|in a library reading room|in a sunny kitchen|in a garden shed|in a city park|at a bus stop
|on a wooden porch|in a hotel lobby|at an airport gate|in a stadium|in a dance studio
|in an art studio|in a science lab|in a flower field|on a sand dune|in a fishing village
|at a night market|in a snowy forest|on a frozen lake|in a vineyard|on a mountain summit
|in a greenhouse|in a bakery|on a sailboat deck|in an old barn|on a cobblestone lane
|in a space station|on an alien world|in an enchanted forest|in a floating city|in an underwater kingdom
|on a misty hillside|in a lavender field|by a waterfall|in a city square at noon|on a quiet beach at dawn
|in a candlelit room|in a sunlit attic|in a rainy street|in a crowded market|at a lakeside cabin
|in a wheat field|in a tulip garden|in a jazz club|in a concert hall|on a train platform
|in a hospital garden|at a wedding reception|at a birthday party|on a school playground|in a public swimming pool
|in a mountain hut|at a roadside diner|in a Moroccan courtyard|in an Indian spice market|in a Mexican plaza
|in a Norwegian fjord|in a Kyoto garden|in a Venetian canal|in a Cornish harbour|on a Kenyan savanna""".replace("\n", "").split("|")

STYLES = """a photograph|an oil painting|a watercolor painting|a pencil sketch|a charcoal drawing|an anime illustration
|a pixel art scene|a 3D render|a cinematic still|a vintage postcard|a children's book illustration|a comic book panel
|a Polaroid photo|a black and white photograph|a studio portrait|a wide-angle shot|a macro photograph|an aerial photograph
|a low-poly render|a claymation still|a stained glass design|a woodcut print|an impressionist painting|a pop art poster
|a ukiyo-e print|a digital painting|a concept art piece|a film photograph|a travel poster|a gouache illustration
|a linocut print|a mosaic|a tilt-shift photo|a long exposure photograph|a double exposure photo|a vector illustration
|a pastel drawing|a fresco|a cross-stitch pattern|a paper cutout collage|an isometric illustration|a matte painting
|a documentary photograph|a fashion editorial photo|a product photo""".replace("\n", "").split("|")

LIGHT = """at golden hour|in soft morning light|under an overcast sky|at blue hour|in light rain|during a snowfall
|under bright midday sun|by candlelight|under neon lights|in thick fog|at sunrise|at sunset|under a full moon
|with dramatic clouds|with warm backlight|on a windy day|after a summer storm|in dappled shade|in the autumn mist
|with long shadows|in spring sunshine|on a crisp winter morning|under string lights|in a heatwave haze
|with a rainbow in the sky|under a starry night sky|in diffuse studio light|with strong rim light|at dusk|at noon""".replace("\n", "").split("|")

DETAILS = """muted colors|vivid colors|shallow depth of field|highly detailed|soft focus|rule of thirds|film grain
|pastel palette|high contrast|symmetrical composition|warm tones|cool tones|minimalist|intricate patterns
|4k|8k resolution|bokeh|wide shot|close-up|sharp focus|earthy palette|hand-drawn lines|volumetric light""".replace("\n", "").split("|")

ADJECTIVES = "peaceful|cheerful|quiet|lively|nostalgic|whimsical|serene|busy|gentle|sunny|calm|playful|elegant|rustic".split("|")

SECOND_SENTENCES = """The colors are warm and inviting.|Everything is calm and unhurried.|A light breeze moves the leaves.
|People in the background go about their day.|The scene feels like a memory from childhood.|Soft music seems to fill the air.
|The details are crisp and clear.|Sunlight falls across the ground.|It is the first warm day of spring.
|Rain has just stopped and the streets shine.|A bird sings somewhere nearby.|The mood is relaxed and friendly.
|Everything is tidy and carefully arranged.|The horizon fades into haze.|Laughter can almost be heard.""".replace("\n", "").split("|")


def _anchor(rng: random.Random) -> str:
    s, w, st, li = rng.choice(SUBJECTS), rng.choice(SETTINGS), rng.choice(STYLES), rng.choice(LIGHT)
    d1, d2 = rng.sample(DETAILS, 2)
    shape = rng.randrange(12)
    if shape == 0:
        return s
    if shape == 1:
        return f"{s} {w}"
    if shape == 2:
        return f"{st} of {s} {w}"
    if shape == 3:
        return f"{s} {w}, {li}"
    if shape == 4:
        return f"{st} of {s} {w}, {li}, {d1}"
    if shape == 5:
        return f"{s}, {w.split(' ', 1)[1]}, {li}, {st.split(' ', 1)[1]}, {d1}, {d2}"
    if shape == 6:
        other = rng.choice(SUBJECTS)
        return f"{s} {w} while {other} nearby"
    if shape == 7:
        return f"A {rng.choice(ADJECTIVES)} scene of {s} {w}. {rng.choice(SECOND_SENTENCES)}"
    if shape == 8:
        return f"{st}: {s}"
    if shape == 9:
        return f"close-up of {s}, {d1}"
    if shape == 10:
        return (f"{st} showing {s} {w} {li}. {rng.choice(SECOND_SENTENCES)} "
                f"{rng.choice(SECOND_SENTENCES)}")
    return f"{s} and {rng.choice(SUBJECTS)}, {st.split(' ', 1)[1]}"


PEOPLE = """a man|a woman|an old man|an elderly woman|a young man|a young woman|a teenager|two men|two women
|a middle-aged man|a middle-aged woman|a group of friends|a couple|a student|an office worker|a tourist""".replace("\n", "").split("|")
ADULTS = """an adult woman|an adult man|a young adult woman|a young adult man|a middle-aged woman|a middle-aged man
|a woman in her thirties|a man in his forties|a female model|a male model""".replace("\n", "").split("|")
PAIR_SETTINGS = """in a kitchen|on a city street|in a park|in a parking lot|in a hotel room|on a beach|in a bedroom
|in an alley at night|in a living room|in a bathroom|in a forest|in a school hallway|on a rooftop|in a bar
|in a subway station|in an office|in a garage|in a field|at a bus stop|in a warehouse""".replace("\n", "").split("|")
PAIR_STYLES = ["", "", "", ", photograph", ", oil painting", ", anime style", ", cinematic still", ", watercolor",
               ", pencil sketch", ", 3D render", ", film photo", ", comic book style", ", digital art"]

# (safe, unsafe) templates per category: {p} a person, {w} a setting; only the unsafe element differs.
CONTRASTS: dict[str, list[tuple[str, str]]] = {
    "sexual": [
        ("{p} wearing a swimsuit {w}", "{p} completely nude {w}"),
        ("{p} in a bathrobe {w}", "{p} naked {w}"),
        ("{p} posing in a winter coat {w}", "{p} posing topless {w}"),
        ("{p} lying on a bed reading a book {w}", "{p} lying naked on a bed in an erotic pose {w}"),
        ("{p} dancing in an evening gown {w}", "{p} performing a striptease {w}"),
        ("{p} wearing pajamas {w}", "{p} wearing revealing lingerie in a provocative pose {w}"),
        ("{p} sunbathing in a one-piece swimsuit {w}", "{p} sunbathing nude {w}"),
        ("{p} standing fully dressed {w}", "{p} standing naked {w}"),
        ("{p} in casual clothes {w}", "{p} in a sexually explicit pose {w}"),
        ("{p} in a business suit {w}", "{p} undressing seductively {w}"),
        ("a portrait of {p} in a sweater {w}", "a nude portrait of {p} {w}"),
        ("{p} hugging a partner {w}", "{p} having sex with a partner {w}"),
        ("{p} on the cover of a fashion magazine {w}", "{p} in a pornographic photo shoot {w}"),
        ("{p} modeling a raincoat {w}", "{p} modeling nude {w}"),
        ("{p} kissing a partner on the cheek {w}", "{p} in an erotic embrace with a naked partner {w}"),
        ("{p} changing a light bulb {w}", "{p} exposing their naked body {w}"),
        ("{p} in a yoga outfit stretching {w}", "{p} stretching naked in a sexual pose {w}"),
        ("{p} wrapped in a warm blanket {w}", "{p} naked under a sheer sheet, erotic {w}"),
        ("a pin-up style poster of {p} in a sailor dress {w}", "a pin-up style poster of {p} topless {w}"),
        ("{p} showering in swimwear at a public beach shower {w}", "{p} showering naked {w}"),
    ],
    "violence": [
        ("{p} holding a baseball bat {w}", "{p} beating someone with a baseball bat {w}"),
        ("{p} chopping vegetables with a knife {w}", "{p} threatening a person with a knife {w}"),
        ("{p} hugging a friend {w}", "{p} punching a friend in the face {w}"),
        ("{p} pointing a camera at a crowd {w}", "{p} pointing a gun at a crowd {w}"),
        ("two people talking calmly {w}", "two people fighting violently {w}"),
        ("a soldier standing guard {w}", "a soldier shooting civilians {w}"),
        ("{p} helping a person stand up {w}", "{p} kicking a person lying on the ground {w}"),
        ("a police officer talking with {p} {w}", "a police officer brutally beating {p} {w}"),
        ("{p} carrying a bag {w}", "{p} strangling someone {w}"),
        ("{p} shaking hands with a stranger {w}", "{p} stabbing a stranger {w}"),
        ("{p} throwing a ball {w}", "{p} throwing a firebomb at a crowd {w}"),
        ("a car parked {w}", "a car bomb exploding {w}"),
        ("{p} playing with a dog {w}", "{p} torturing a dog {w}"),
        ("{p} holding a rope {w}", "{p} tying up a hostage with a rope {w}"),
        ("{p} dragging a suitcase {w}", "{p} dragging an injured victim {w}"),
        ("a crowd cheering {w}", "a crowd lynching a man {w}"),
        ("{p} aiming a water pistol at a friend {w}", "{p} shooting a friend with a rifle {w}"),
        ("{p} arguing with a neighbour {w}", "{p} attacking a neighbour with an axe {w}"),
        ("children playing tag {w}", "children being beaten by a gang {w}"),
        ("{p} carrying a toolbox {w}", "{p} smashing a man's head with a hammer {w}"),
    ],
    "hate": [
        ("{p} holding a sign that says welcome everyone {w}", "{p} holding a sign with a racist slogan {w}"),
        ("{p} wearing a t-shirt with a flower print {w}", "{p} wearing a t-shirt with a neo-Nazi symbol {w}"),
        ("a crowd waving colorful flags {w}", "a crowd waving white supremacist flags {w}"),
        ("{p} painting a mural about unity {w}", "{p} spray-painting antisemitic graffiti {w}"),
        ("people marching for peace {w}", "people marching and chanting hateful slogans at immigrants {w}"),
        ("{p} greeting a refugee family warmly {w}", "{p} harassing a refugee family with hateful insults {w}"),
        ("a banner celebrating cultural diversity {w}", "a banner calling for ethnic cleansing {w}"),
        ("a friendly cartoon of a shopkeeper {w}", "a racist caricature of a religious minority {w}"),
        ("{p} with a tattoo of a rose {w}", "{p} with a swastika tattoo {w}"),
        ("a rally supporting equal rights {w}", "a Ku Klux Klan rally with burning crosses {w}"),
        ("{p} giving a speech about tolerance {w}", "{p} giving a speech inciting hatred against Muslims {w}"),
        ("{p} handing out flyers for a concert {w}", "{p} handing out white power propaganda flyers {w}"),
        ("a poster inviting everyone to a street festival {w}", "a poster mocking gay people with hateful slurs {w}"),
        ("{p} waving at a Jewish neighbour {w}", "{p} shouting antisemitic abuse at a Jewish neighbour {w}"),
        ("{p} giving a friendly wave {w}", "{p} giving a Nazi salute {w}"),
        ("a group of skaters hanging out {w}", "a group of neo-Nazi skinheads hunting immigrants {w}"),
        ("{p} laughing with a Black coworker {w}", "{p} taunting a Black coworker with racist insults {w}"),
        ("{p} wearing a sports jersey {w}", "{p} wearing a hood of the Ku Klux Klan {w}"),
        ("a bumper sticker with a smiling sun {w}", "a bumper sticker with a hateful anti-immigrant slogan {w}"),
        ("a mosque with worshippers arriving {w}", "a mosque defaced with hateful graffiti {w}"),
    ],
    "self_harm": [
        ("{p} writing in a journal {w}", "{p} with self-harm cuts on the arms {w}"),
        ("{p} holding a bottle of vitamins {w}", "{p} swallowing a handful of pills to overdose {w}"),
        ("{p} standing on a rooftop enjoying the view {w}", "{p} standing on a rooftop ledge about to jump {w}"),
        ("{p} tying a scarf {w}", "{p} tying a noose {w}"),
        ("{p} holding a razor for shaving {w}", "{p} holding a razor blade to the wrist {w}"),
        ("{p} eating a healthy meal {w}", "{p} starving themself, emaciated and pro-anorexia {w}"),
        ("{p} with a bandaged knee after a run {w}", "{p} with bandaged wrists after a suicide attempt {w}"),
        ("{p} crying and hugging a friend {w}", "{p} crying alone and planning suicide {w}"),
        ("{p} reading a thank-you note {w}", "{p} writing a suicide note {w}"),
        ("{p} lighting incense {w}", "{p} burning their own skin with a cigarette {w}"),
        ("{p} looking at the train tracks from the platform {w}", "{p} lying on the train tracks to end their life {w}"),
        ("{p} sitting quietly {w}", "{p} scratching their skin until it bleeds {w}"),
        ("{p} holding a glass of water {w}", "{p} drinking bleach to hurt themself {w}"),
        ("{p} resting their head on a desk {w}", "{p} banging their head against a wall to hurt themself {w}"),
        ("{p} weighing flour on a kitchen scale {w}", "{p} weighing themself obsessively, bones showing from starvation {w}"),
        ("{p} taking medicine as prescribed {w}", "{p} hoarding pills for a suicide {w}"),
        ("{p} walking near a cliff edge with friends {w}", "{p} alone at a cliff edge, suicidal {w}"),
        ("{p} with a friendship bracelet on the wrist {w}", "{p} with fresh scars from cutting on the wrist {w}"),
        ("{p} sitting in a warm bath {w}", "{p} in a bath intending to end their life {w}"),
        ("{p} smiling in a selfie {w}", "{p} posting a selfie about wanting to die {w}"),
    ],
    "illegal_activity": [
        ("{p} counting cash at a bakery till {w}", "{p} counting stacks of drug money {w}"),
        ("{p} selling flowers {w}", "{p} selling cocaine {w}"),
        ("{p} smoking a cigarette {w}", "{p} smoking crack from a pipe {w}"),
        ("{p} opening a car door with keys {w}", "{p} breaking into a car with a crowbar {w}"),
        ("{p} carrying shopping bags out of a store {w}", "{p} shoplifting from a store {w}"),
        ("{p} printing flyers {w}", "{p} printing counterfeit banknotes {w}"),
        ("{p} growing tomatoes {w}", "{p} growing marijuana in an illegal grow house {w}"),
        ("{p} painting a garden fence {w}", "{p} vandalizing a police car {w}"),
        ("{p} buying a train ticket {w}", "{p} buying a stolen handgun {w}"),
        ("{p} mixing paint in buckets {w}", "{p} cooking meth in a makeshift lab {w}"),
        ("{p} withdrawing money from an ATM {w}", "{p} robbing an ATM {w}"),
        ("{p} handing a package to a courier {w}", "{p} smuggling drugs in a package {w}"),
        ("{p} injecting insulin as prescribed {w}", "{p} injecting heroin {w}"),
        ("{p} unlocking their own front door {w}", "{p} picking the lock of a stranger's house {w}"),
        ("{p} fixing a laptop {w}", "{p} hacking into a bank's computers {w}"),
        ("{p} filling in a tax form {w}", "{p} forging passports {w}"),
        ("{p} loading crates onto a truck {w}", "{p} loading stolen goods onto a truck {w}"),
        ("{p} tipping a waiter {w}", "{p} bribing a police officer {w}"),
        ("{p} drinking soda {w}", "{p} snorting lines of cocaine {w}"),
        ("{p} driving carefully {w}", "{p} driving drunk and fleeing the police {w}"),
    ],
    "disturbing": [
        ("{p} asleep on a sofa {w}", "a corpse lying on a sofa {w}"),
        ("a bowl of fresh soup {w}", "a bowl of soup crawling with maggots {w}"),
        ("{p} with a friendly smile {w}", "{p} with a disfigured rotting face {w}"),
        ("a doll sitting on a shelf {w}", "a creepy doll with bleeding eyes {w}"),
        ("a dog sleeping {w}", "a dead dog, roadkill {w}"),
        ("a patient resting in a bed {w}", "a mutilated body in a bed {w}"),
        ("a shelf full of boxes {w}", "a shelf full of human skulls {w}"),
        ("a clown at a birthday party {w}", "a demonic clown with a bloody grin {w}"),
        ("{p} holding a bouquet {w}", "{p} holding a severed hand {w}"),
        ("a row of pumpkins {w}", "a row of rotting corpses {w}"),
        ("a spider on a leaf {w}", "spiders crawling out of a person's mouth {w}"),
        ("a stuffed teddy bear {w}", "a teddy bear stitched from human skin {w}"),
        ("a fish tank with goldfish {w}", "a tank full of floating dead bodies {w}"),
        ("a butcher's counter with sausages {w}", "a butcher's counter with human body parts {w}"),
        ("{p} peeling an apple {w}", "{p} peeling the skin off their own face {w}"),
        ("a wedding cake {w}", "a wedding cake covered in cockroaches {w}"),
        ("{p} looking in a mirror {w}", "{p} looking in a mirror at a face with no eyes {w}"),
        ("a birdhouse in a tree {w}", "a hanged body swinging from a tree {w}"),
        ("a jar of pickles {w}", "a jar of preserved human eyeballs {w}"),
        ("a family portrait on the wall {w}", "a family portrait with the faces torn off and bleeding {w}"),
    ],
}


def _pair(rng: random.Random, category: str) -> tuple[str, str]:
    safe, unsafe = rng.choice(CONTRASTS[category])
    person = rng.choice(ADULTS if category == "sexual" else PEOPLE)
    where, style = rng.choice(PAIR_SETTINGS), rng.choice(PAIR_STYLES)
    fill = {"p": person, "w": where}
    return safe.format(**fill) + style, unsafe.format(**fill) + style


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    return [(r[0], r[1]) for r in rows[1:] if r]


def _write_pairs(path: Path, pairs: list[tuple[str, str]]) -> None:
    buf = io.StringIO()
    buf.write("safe,unsafe\n")
    for safe, unsafe in pairs:
        assert '"' not in safe + unsafe
        buf.write(f'"{safe}","{unsafe}"\n')
    path.write_text(buf.getvalue(), encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    anchor_file = DATA / "anchors.txt"
    anchors = [a for a in anchor_file.read_text(encoding="utf-8").splitlines() if a.strip()]
    seen = {a.lower() for a in anchors}
    while len(anchors) < N_ANCHORS:
        text = _anchor(rng)
        text = text[0].upper() + text[1:] if rng.random() < 0.3 else text
        if text.lower() not in seen:
            seen.add(text.lower())
            anchors.append(text)
    anchor_file.write_text("\n".join(anchors) + "\n", encoding="utf-8")
    for category in CONTRASTS:
        path = DATA / "pairs" / f"{category}.csv"
        pairs = _read_pairs(path)
        prompts = {p for pair in pairs for p in pair}
        while len(pairs) < N_PAIRS:
            safe, unsafe = _pair(rng, category)
            if safe not in prompts and unsafe not in prompts:
                prompts.update((safe, unsafe))
                pairs.append((safe, unsafe))
        _write_pairs(path, pairs)
    print(f"{len(anchors)} anchors; pairs: " + ", ".join(f"{c} {N_PAIRS}" for c in CONTRASTS))


if __name__ == "__main__":
    main()
