/* The generator's word lists: first names of many origins, and simple nouns, verbs (with their past
 * and -ing forms written out) and adjectives of the kind BabiStories' prompts require, each tagged
 * with the roles it fits so that every sentence the templates build stays sensible. */
#include <stdio.h>
#include <string.h>

#include "data/stories.h"

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- names ---------------------------------------------------------------------------------------- */

static const story_name names[] = {
    /* girls */
    {"Mia", 1}, {"Lily", 1}, {"Emma", 1}, {"Olivia", 1}, {"Ava", 1}, {"Sophia", 1}, {"Chloe", 1},
    {"Grace", 1}, {"Ruby", 1}, {"Ella", 1}, {"Zoe", 1}, {"Lucy", 1}, {"Hannah", 1}, {"Amelia", 1},
    {"Isla", 1}, {"Maya", 1}, {"Nora", 1}, {"Alice", 1}, {"Rosie", 1}, {"Daisy", 1}, {"Molly", 1},
    {"Poppy", 1}, {"Hazel", 1}, {"Stella", 1}, {"Clara", 1}, {"Violet", 1}, {"Sadie", 1},
    {"Penny", 1}, {"Julia", 1}, {"Anna", 1}, {"Sara", 1}, {"Laura", 1}, {"Elena", 1}, {"Lucia", 1},
    {"Sofia", 1}, {"Valentina", 1}, {"Camila", 1}, {"Isabel", 1}, {"Paloma", 1}, {"Carmen", 1},
    {"Rosa", 1}, {"Ines", 1}, {"Marisol", 1}, {"Gabriela", 1}, {"Ximena", 1}, {"Luna", 1},
    {"Bianca", 1}, {"Giulia", 1}, {"Chiara", 1}, {"Francesca", 1}, {"Amelie", 1}, {"Camille", 1},
    {"Margot", 1}, {"Elodie", 1}, {"Colette", 1}, {"Greta", 1}, {"Heidi", 1}, {"Frieda", 1},
    {"Liesel", 1}, {"Astrid", 1}, {"Freya", 1}, {"Ingrid", 1}, {"Sigrid", 1}, {"Linnea", 1},
    {"Maja", 1}, {"Katya", 1}, {"Natasha", 1}, {"Olga", 1}, {"Mila", 1}, {"Zofia", 1},
    {"Irina", 1}, {"Vera", 1}, {"Daria", 1}, {"Anya", 1}, {"Eleni", 1}, {"Daphne", 1}, {"Thea", 1},
    {"Fatima", 1}, {"Layla", 1}, {"Amira", 1}, {"Yasmin", 1}, {"Noor", 1}, {"Salma", 1},
    {"Zainab", 1}, {"Leila", 1}, {"Samira", 1}, {"Hana", 1}, {"Aisha", 1}, {"Mariam", 1},
    {"Shirin", 1}, {"Parisa", 1}, {"Ayla", 1}, {"Elif", 1}, {"Defne", 1}, {"Zeynep", 1},
    {"Tamar", 1}, {"Noa", 1}, {"Yael", 1}, {"Shira", 1}, {"Priya", 1}, {"Ananya", 1}, {"Diya", 1},
    {"Meera", 1}, {"Kavya", 1}, {"Asha", 1}, {"Riya", 1}, {"Nisha", 1}, {"Lakshmi", 1},
    {"Isha", 1}, {"Anika", 1}, {"Mei", 1}, {"Lian", 1}, {"Xia", 1}, {"Ling", 1}, {"Jing", 1},
    {"Hua", 1}, {"Yumi", 1}, {"Sakura", 1}, {"Hina", 1}, {"Aiko", 1}, {"Yuki", 1}, {"Emi", 1},
    {"Haruka", 1}, {"Mina", 1}, {"Jiwoo", 1}, {"Seoyeon", 1}, {"Minji", 1}, {"Linh", 1},
    {"Mai", 1}, {"Thao", 1}, {"Amara", 1}, {"Zuri", 1}, {"Nia", 1}, {"Imani", 1}, {"Ayana", 1},
    {"Adaeze", 1}, {"Chiamaka", 1}, {"Folake", 1}, {"Thandi", 1}, {"Nandi", 1}, {"Makena", 1},
    {"Abeni", 1}, {"Kaya", 1}, {"Leilani", 1}, {"Malia", 1}, {"Kalani", 1}, {"Siobhan", 1},
    {"Aoife", 1}, {"Niamh", 1}, {"Maeve", 1}, {"Saoirse", 1}, {"Tala", 1}, {"Ayesha", 1},
    {"Farah", 1}, {"Esme", 1}, {"Matilda", 1}, {"Harriet", 1}, {"Beatrix", 1}, {"Winnie", 1},
    {"Josie", 1}, {"Nell", 1}, {"Ada", 1}, {"Edie", 1}, {"Pilar", 1}, {"Renata", 1}, {"Dalia", 1},
    {"Nadia", 1}, {"Selin", 1}, {"Keiko", 1}, {"Suki", 1}, {"Anh", 1}, {"Wanjiru", 1},
    {"Ebele", 1}, {"Ife", 1}, {"Inka", 1}, {"Kiri", 1}, {"Moana", 1},
    /* boys */
    {"Leo", 0}, {"Sam", 0}, {"Tom", 0}, {"Max", 0}, {"Ben", 0}, {"Jack", 0}, {"Oliver", 0},
    {"Noah", 0}, {"Liam", 0}, {"Lucas", 0}, {"Henry", 0}, {"Oscar", 0}, {"Finn", 0}, {"Theo", 0},
    {"Jacob", 0}, {"Ethan", 0}, {"Mason", 0}, {"Owen", 0}, {"Caleb", 0}, {"Milo", 0}, {"Felix", 0},
    {"Jasper", 0}, {"Arthur", 0}, {"Toby", 0}, {"Harry", 0}, {"Charlie", 0}, {"Alfie", 0},
    {"George", 0}, {"Teddy", 0}, {"Billy", 0}, {"Mateo", 0}, {"Diego", 0}, {"Carlos", 0},
    {"Pablo", 0}, {"Javier", 0}, {"Luis", 0}, {"Santiago", 0}, {"Tomas", 0}, {"Rafael", 0},
    {"Emilio", 0}, {"Marco", 0}, {"Luca", 0}, {"Matteo", 0}, {"Enzo", 0}, {"Giovanni", 0},
    {"Pierre", 0}, {"Louis", 0}, {"Hugo", 0}, {"Jules", 0}, {"Remy", 0}, {"Lukas", 0},
    {"Jonas", 0}, {"Emil", 0}, {"Anton", 0}, {"Otto", 0}, {"Lars", 0}, {"Erik", 0}, {"Nils", 0},
    {"Sven", 0}, {"Olaf", 0}, {"Bjorn", 0}, {"Ivan", 0}, {"Dmitri", 0}, {"Mikhail", 0},
    {"Pavel", 0}, {"Boris", 0}, {"Nikolai", 0}, {"Stefan", 0}, {"Milan", 0}, {"Andrei", 0},
    {"Nikos", 0}, {"Yannis", 0}, {"Stavros", 0}, {"Omar", 0}, {"Ali", 0}, {"Yusuf", 0},
    {"Karim", 0}, {"Samir", 0}, {"Hassan", 0}, {"Tariq", 0}, {"Zayn", 0}, {"Idris", 0},
    {"Amir", 0}, {"Reza", 0}, {"Dariush", 0}, {"Emre", 0}, {"Kerem", 0}, {"Baris", 0},
    {"Eitan", 0}, {"Noam", 0}, {"Ari", 0}, {"Avi", 0}, {"Ravi", 0}, {"Arjun", 0}, {"Rohan", 0},
    {"Vikram", 0}, {"Dev", 0}, {"Aarav", 0}, {"Kabir", 0}, {"Ishaan", 0}, {"Sanjay", 0},
    {"Vijay", 0}, {"Wei", 0}, {"Jun", 0}, {"Chen", 0}, {"Bo", 0}, {"Hao", 0}, {"Ming", 0},
    {"Lei", 0}, {"Tao", 0}, {"Kenji", 0}, {"Hiro", 0}, {"Haruto", 0}, {"Sora", 0}, {"Ren", 0},
    {"Taro", 0}, {"Yuto", 0}, {"Minho", 0}, {"Jisung", 0}, {"Hyun", 0}, {"Duc", 0}, {"Minh", 0},
    {"Bao", 0}, {"Kofi", 0}, {"Kwame", 0}, {"Chidi", 0}, {"Emeka", 0}, {"Tunde", 0},
    {"Sipho", 0}, {"Jabari", 0}, {"Juma", 0}, {"Baraka", 0}, {"Tendai", 0}, {"Kai", 0},
    {"Keanu", 0}, {"Makoa", 0}, {"Koa", 0}, {"Sean", 0}, {"Cian", 0}, {"Declan", 0}, {"Rory", 0},
    {"Eoin", 0}, {"Angus", 0}, {"Callum", 0}, {"Hamish", 0}, {"Rhys", 0}, {"Dylan", 0},
    {"Gareth", 0}, {"Elliot", 0}, {"Rupert", 0}, {"Percy", 0}, {"Archie", 0}, {"Ezra", 0},
    {"Silas", 0}, {"Jonah", 0}, {"Gabriel", 0}, {"Andres", 0}, {"Joaquin", 0}, {"Nico", 0},
    {"Bruno", 0}, {"Ibrahim", 0}, {"Malik", 0}, {"Rami", 0}, {"Tenzin", 0}, {"Arash", 0},
    {"Farid", 0}, {"Kiran", 0}, {"Nikhil", 0}, {"Rahul", 0}, {"Akira", 0}, {"Daisuke", 0},
    {"Jin", 0}, {"Kwan", 0}, {"Tuan", 0}, {"Obi", 0}, {"Femi", 0}, {"Themba", 0}, {"Kato", 0},
    {"Mosi", 0}, {"Tane", 0}, {"Nalu", 0}, {"Mika", 0}, {"Aleksi", 0}, {"Piotr", 0}, {"Marek", 0},
};

/* ---- nouns ---------------------------------------------------------------------------------------- */

#define T SN_THING
#define A SN_ANIMAL
#define P SN_PLACE
#define F SN_FOOD

static const story_noun nouns[] = {
    /* things a child can hold, carry and lose */
    {"ball", 0, T | SN_TOY, 0}, {"kite", 0, T | SN_FLY, 0}, {"doll", 0, T | SN_SOFT, 0},
    {"teddy bear", 0, T | SN_SOFT, 0}, {"toy car", 0, T | SN_TOY, 0}, {"toy truck", 0, T, 0},
    {"toy train", 0, T, 0}, {"toy boat", 0, T, 0}, {"toy plane", 0, T | SN_FLY, 0},
    {"drum", 0, T | SN_MUSIC, 0}, {"flute", 0, T | SN_MUSIC, 0}, {"guitar", 0, T | SN_MUSIC, 0},
    {"whistle", 0, T | SN_MUSIC, 0}, {"trumpet", 0, T | SN_MUSIC, 0},
    {"violin", 0, T | SN_MUSIC, 0}, {"xylophone", 0, T | SN_MUSIC, 0},
    {"harmonica", 0, T | SN_MUSIC, 0}, {"tambourine", 0, T | SN_MUSIC, 0},
    {"book", 0, T | SN_READ, 0}, {"storybook", 0, T | SN_READ, 0}, {"letter", 0, T | SN_READ, 0},
    {"map", 0, T | SN_READ, 0}, {"card", 0, T | SN_READ, 0}, {"notebook", 0, T | SN_READ, 0},
    {"postcard", 0, T | SN_READ | SN_COLLECT, 0}, {"picture", 0, T, 0}, {"drawing", 0, T, 0},
    {"box", 0, T | SN_CONT, 0}, {"bag", 0, T | SN_CONT, 0}, {"basket", 0, T | SN_CONT, 0},
    {"bucket", 0, T | SN_CONT, 0}, {"backpack", 0, T | SN_CONT, 0},
    {"lunchbox", 0, T | SN_CONT, 0}, {"jar", 0, T | SN_CONT, 0}, {"bottle", 0, T | SN_CONT, 0},
    {"cup", 0, T | SN_CONT, 0}, {"bowl", 0, T | SN_CONT, 0}, {"pail", 0, T | SN_CONT, 0},
    {"teapot", 0, T | SN_CONT, 0}, {"music box", 0, T | SN_CONT | SN_MUSIC, 0},
    {"treasure chest", 0, T | SN_CONT, 0}, {"piggy bank", 0, T | SN_CONT, 0},
    {"watering can", 0, T | SN_CONT, 0}, {"hat", 0, T | SN_WEAR, 0}, {"cap", 0, T | SN_WEAR, 0},
    {"coat", 0, T | SN_WEAR, 0}, {"jacket", 0, T | SN_WEAR, 0},
    {"scarf", "scarves", T | SN_WEAR, 0}, {"boot", 0, T | SN_WEAR, 0},
    {"shoe", 0, T | SN_WEAR, 0}, {"sock", 0, T | SN_WEAR, 0}, {"glove", 0, T | SN_WEAR, 0},
    {"mitten", 0, T | SN_WEAR, 0}, {"sweater", 0, T | SN_WEAR, 0}, {"dress", 0, T | SN_WEAR, 0},
    {"mask", 0, T | SN_WEAR, 0}, {"crown", 0, T | SN_WEAR, 0}, {"tiara", 0, T | SN_WEAR, 0},
    {"necklace", 0, T | SN_WEAR, 0}, {"bracelet", 0, T | SN_WEAR, 0},
    {"ribbon", 0, T | SN_WEAR, 0}, {"ring", 0, T | SN_WEAR, 0},
    {"blanket", 0, T | SN_WEAR | SN_SOFT, 0}, {"towel", 0, T | SN_WEAR, 0},
    {"pillow", 0, T | SN_SOFT, 0}, {"puppet", 0, T | SN_SOFT, 0}, {"umbrella", 0, T, 0},
    {"spoon", 0, T, 0}, {"plate", 0, T, 0}, {"key", 0, T, 0}, {"lamp", 0, T, 0},
    {"lantern", 0, T, 0}, {"flashlight", 0, T, 0}, {"candle", 0, T, 0}, {"clock", 0, T, 0},
    {"bell", 0, T, 0}, {"mirror", 0, T, 0}, {"button", 0, T | SN_COLLECT, 0},
    {"marble", 0, T | SN_TOY | SN_COLLECT, 0}, {"coin", 0, T | SN_COLLECT, 0},
    {"sticker", 0, T | SN_COLLECT, 0}, {"stamp", 0, T | SN_COLLECT, 0},
    {"badge", 0, T | SN_COLLECT, 0}, {"shell", 0, T | SN_COLLECT, 0},
    {"feather", 0, T | SN_COLLECT, 0}, {"leaf", "leaves", T | SN_COLLECT, 0},
    {"stone", 0, T | SN_TOY | SN_COLLECT, 0}, {"pebble", 0, T | SN_TOY | SN_COLLECT, 0},
    {"rock", 0, T | SN_TOY | SN_COLLECT, 0}, {"stick", 0, T | SN_TOY, 0},
    {"pinecone", 0, T | SN_TOY | SN_COLLECT, 0}, {"acorn", 0, T | SN_COLLECT | SN_PLANT, 0},
    {"seed", 0, T | SN_PLANT, 0}, {"flower", 0, T | SN_PLANT | SN_COLLECT, 0},
    {"sunflower", 0, T | SN_PLANT, 0}, {"balloon", 0, T | SN_TOY | SN_FLY, 0},
    {"puzzle", 0, T, 0}, {"block", 0, T | SN_TOY, 0}, {"robot", 0, T, 0},
    {"rocket", 0, T | SN_FLY, 0}, {"wagon", 0, T | SN_RIDE, 0}, {"bike", 0, T | SN_RIDE, 0},
    {"scooter", 0, T | SN_RIDE, 0}, {"sled", 0, T | SN_RIDE, 0},
    {"skateboard", 0, T | SN_RIDE, 0}, {"tricycle", 0, T | SN_RIDE, 0}, {"rope", 0, T, 0},
    {"net", 0, T, 0}, {"shovel", 0, T, 0}, {"rake", 0, T, 0}, {"paintbrush", 0, T, 0},
    {"crayon", 0, T | SN_COLLECT, 0}, {"pencil", 0, T, 0}, {"brush", 0, T, 0}, {"wand", 0, T, 0},
    {"medal", 0, T, 0}, {"trophy", 0, T, 0}, {"compass", 0, T, 0}, {"telescope", 0, T, 0},
    {"camera", 0, T, 0}, {"frisbee", 0, T | SN_TOY, 0}, {"jump rope", 0, T, 0},
    {"yo-yo", 0, T | SN_TOY, 0}, {"spinning top", 0, T | SN_TOY, 0},
    {"paper boat", 0, T | SN_TOY, 0}, {"snow globe", 0, T, 0}, {"toy horse", 0, T, 0},
    {"rubber duck", 0, T | SN_TOY, 0}, {"beach ball", 0, T | SN_TOY, 0},
    {"soccer ball", 0, T | SN_TOY, 0}, {"magnet", 0, T, 0}, {"magnifying glass", 0, T, 0},
    {"pinwheel", 0, T, 0},

    /* animals */
    {"dog", 0, A, 0}, {"puppy", 0, A, 0}, {"cat", 0, A, 0}, {"kitten", 0, A, 0}, {"bird", 0, A, 0},
    {"duck", 0, A, 0}, {"duckling", 0, A, 0}, {"frog", 0, A, 0}, {"rabbit", 0, A, 0}, {"bunny", 0, A, 0},
    {"mouse", "mice", A, 0}, {"squirrel", 0, A, 0}, {"fox", 0, A, 0}, {"bear", 0, A | SN_EXOTIC, 0},
    {"owl", 0, A, 0}, {"turtle", 0, A, 0}, {"fish", "fish", A | SN_EXOTIC, 0}, {"horse", 0, A | SN_RIDE, 0},
    {"pony", 0, A | SN_RIDE, 0}, {"donkey", 0, A | SN_RIDE, 0}, {"cow", 0, A, 0}, {"pig", 0, A, 0},
    {"sheep", "sheep", A, 0}, {"lamb", 0, A, 0}, {"goat", 0, A, 0}, {"chicken", 0, A, 0}, {"chick", 0, A, 0},
    {"hen", 0, A, 0}, {"butterfly", 0, A, 0}, {"bee", 0, A, 0}, {"ladybug", 0, A, 0}, {"ant", 0, A, 0},
    {"snail", 0, A, 0}, {"worm", 0, A, 0}, {"spider", 0, A, 0}, {"bat", 0, A, 0}, {"deer", "deer", A, 0},
    {"hedgehog", 0, A, 0}, {"raccoon", 0, A, 0}, {"beaver", 0, A, 0}, {"otter", 0, A, 0},
    {"seal", 0, A | SN_EXOTIC, 0}, {"penguin", 0, A | SN_EXOTIC, 0}, {"dolphin", 0, A | SN_EXOTIC, 0},
    {"whale", 0, A | SN_EXOTIC, 0}, {"elephant", 0, A | SN_EXOTIC, 0}, {"lion", 0, A | SN_EXOTIC, 0},
    {"tiger", 0, A | SN_EXOTIC, 0}, {"monkey", 0, A | SN_EXOTIC, 0}, {"giraffe", 0, A | SN_EXOTIC, 0},
    {"zebra", 0, A | SN_EXOTIC, 0}, {"hippo", 0, A | SN_EXOTIC, 0}, {"kangaroo", 0, A | SN_EXOTIC, 0},
    {"koala", 0, A | SN_EXOTIC, 0}, {"panda", 0, A | SN_EXOTIC, 0}, {"parrot", 0, A | SN_EXOTIC, 0},
    {"goose", "geese", A, 0}, {"swan", 0, A, 0}, {"crab", 0, A | SN_EXOTIC, 0}, {"lizard", 0, A, 0},
    {"dragon", 0, A | SN_EXOTIC, 0}, {"unicorn", 0, A | SN_EXOTIC, 0}, {"wolf", "wolves", A | SN_EXOTIC, 0},
    {"robin", 0, A, 0}, {"sparrow", 0, A, 0}, {"pigeon", 0, A, 0}, {"goldfish", "goldfish", A | SN_EXOTIC, 0},
    {"hamster", 0, A, 0}, {"guinea pig", 0, A, 0}, {"tortoise", 0, A, 0}, {"mole", 0, A, 0},
    {"badger", 0, A, 0}, {"camel", 0, A | SN_EXOTIC, 0}, {"moose", "moose", A | SN_EXOTIC, 0},
    {"octopus", 0, A | SN_EXOTIC, 0}, {"seagull", 0, A | SN_EXOTIC, 0}, {"crow", 0, A, 0},
    {"peacock", 0, A | SN_EXOTIC, 0}, {"flamingo", 0, A | SN_EXOTIC, 0}, {"llama", 0, A | SN_EXOTIC, 0},
    {"calf", "calves", A, 0}, {"firefly", 0, A, 0}, {"caterpillar", 0, A, 0},
    {"dinosaur", 0, A | SN_EXOTIC, 0},

    /* places */
    {"park", 0, P, "in"}, {"garden", 0, P, "in"}, {"forest", 0, P, "in"}, {"beach", 0, P, "on"},
    {"lake", 0, P, "by"}, {"river", 0, P | SN_CROSS, "by"}, {"pond", 0, P, "by"}, {"farm", 0, P, "on"},
    {"barn", 0, P | SN_INDOOR, "in"}, {"hill", 0, P | SN_CLIMB, "on"}, {"meadow", 0, P, "in"},
    {"field", 0, P | SN_CROSS, "in"}, {"playground", 0, P, "on"}, {"school", 0, P | SN_INDOOR, "at"},
    {"library", 0, P | SN_INDOOR, "at"}, {"zoo", 0, P, "at"}, {"market", 0, P | SN_INDOOR, "at"},
    {"shop", 0, P | SN_INDOOR, "in"}, {"bakery", 0, P | SN_INDOOR, "at"}, {"kitchen", 0, P | SN_INDOOR, "in"},
    {"backyard", 0, P, "in"}, {"yard", 0, P, "in"}, {"castle", 0, P | SN_INDOOR, "in"}, {"cave", 0, P, "in"},
    {"island", 0, P, "on"}, {"jungle", 0, P, "in"}, {"mountain", 0, P | SN_CLIMB, "on"},
    {"valley", 0, P, "in"}, {"village", 0, P, "in"}, {"town", 0, P, "in"}, {"city", "cities", P, "in"},
    {"street", 0, P | SN_CROSS, "on"}, {"bridge", 0, P | SN_CROSS, "on"},
    {"tree house", 0, P | SN_INDOOR, "in"}, {"attic", 0, P | SN_INDOOR, "in"},
    {"museum", 0, P | SN_INDOOR, "at"}, {"circus", 0, P | SN_INDOOR, "at"}, {"fair", 0, P, "at"},
    {"pool", 0, P, "by"}, {"sea", 0, P, "by"}, {"ocean", 0, P, "by"}, {"desert", 0, P | SN_CROSS, "in"},
    {"campsite", 0, P, "at"}, {"train station", 0, P | SN_INDOOR, "at"}, {"harbor", 0, P, "at"},
    {"orchard", 0, P, "in"}, {"swamp", 0, P, "in"}, {"bedroom", 0, P | SN_INDOOR, "in"},
    {"classroom", 0, P | SN_INDOOR, "in"}, {"tunnel", 0, P, "in"}, {"hilltop", 0, P, "on"},
    {"riverbank", 0, P, "on"}, {"sandbox", 0, P, "in"}, {"porch", 0, P, "on"},
    {"toy store", 0, P | SN_INDOOR, "at"}, {"ice rink", 0, P | SN_INDOOR, "at"}, {"lighthouse", 0, P, "at"},
    {"farmyard", 0, P, "in"}, {"playroom", 0, P | SN_INDOOR, "in"}, {"living room", 0, P | SN_INDOOR, "in"},
    {"pumpkin patch", 0, P, "in"}, {"stream", 0, P | SN_CROSS, "by"}, {"creek", 0, P | SN_CROSS, "by"},
    {"flower field", 0, P, "in"}, {"greenhouse", 0, P | SN_INDOOR, "in"},

    /* food */
    {"apple", 0, F | SN_FRUIT, 0}, {"banana", 0, F | SN_FRUIT, 0},
    {"orange", 0, F | SN_FRUIT, 0}, {"pear", 0, F | SN_FRUIT, 0}, {"peach", 0, F | SN_FRUIT, 0},
    {"plum", 0, F | SN_FRUIT, 0}, {"lemon", 0, F | SN_FRUIT, 0}, {"cherry", 0, F | SN_FRUIT, 0},
    {"strawberry", 0, F | SN_FRUIT, 0}, {"blueberry", 0, F | SN_FRUIT, 0},
    {"grape", 0, F | SN_FRUIT, 0}, {"melon", 0, F | SN_FRUIT, 0},
    {"watermelon", 0, F | SN_FRUIT, 0}, {"pumpkin", 0, F | SN_FRUIT, 0},
    {"carrot", 0, F | SN_FRUIT, 0}, {"tomato", "tomatoes", F | SN_FRUIT, 0},
    {"potato", "potatoes", F | SN_FRUIT | SN_COOK, 0}, {"mango", "mangoes", F | SN_FRUIT, 0},
    {"pineapple", 0, F | SN_FRUIT, 0}, {"coconut", 0, F, 0}, {"cookie", 0, F | SN_BAKE, 0},
    {"cake", 0, F | SN_BAKE, 0}, {"cupcake", 0, F | SN_BAKE, 0}, {"pie", 0, F | SN_BAKE, 0},
    {"muffin", 0, F | SN_BAKE, 0}, {"bun", 0, F | SN_BAKE, 0}, {"pretzel", 0, F | SN_BAKE, 0},
    {"biscuit", 0, F | SN_BAKE, 0}, {"tart", 0, F | SN_BAKE, 0}, {"pizza", 0, F | SN_BAKE, 0},
    {"pancake", 0, F | SN_COOK, 0}, {"waffle", 0, F | SN_COOK, 0}, {"sandwich", 0, F, 0},
    {"donut", 0, F, 0}, {"cracker", 0, F, 0}, {"lollipop", 0, F, 0}, {"candy", 0, F, 0},
    {"egg", 0, F | SN_COOK, 0}, {"bread", 0, F | SN_MASS | SN_BAKE, 0},
    {"soup", 0, F | SN_MASS | SN_LIQ | SN_COOK, 0}, {"milk", 0, F | SN_MASS | SN_LIQ, 0},
    {"juice", 0, F | SN_MASS | SN_LIQ, 0}, {"lemonade", 0, F | SN_MASS | SN_LIQ, 0},
    {"water", 0, F | SN_MASS | SN_LIQ, 0}, {"cocoa", 0, F | SN_MASS | SN_LIQ, 0},
    {"honey", 0, F | SN_MASS | SN_LIQ, 0}, {"syrup", 0, F | SN_MASS | SN_LIQ, 0},
    {"jam", 0, F | SN_MASS, 0}, {"cheese", 0, F | SN_MASS, 0},
    {"rice", 0, F | SN_MASS | SN_COOK, 0}, {"popcorn", 0, F | SN_MASS | SN_COOK, 0},
    {"ice cream", 0, F | SN_MASS, 0}, {"cereal", 0, F | SN_MASS, 0},
    {"pasta", 0, F | SN_MASS | SN_COOK, 0}, {"corn", 0, F | SN_MASS | SN_COOK, 0},
    {"chocolate", 0, F | SN_MASS, 0}, {"oatmeal", 0, F | SN_MASS | SN_COOK, 0},
    {"yogurt", 0, F | SN_MASS, 0}, {"porridge", 0, F | SN_MASS | SN_COOK, 0},
    {"pudding", 0, F | SN_MASS, 0},
};

#undef T
#undef A
#undef P
#undef F

/* ---- verbs ---------------------------------------------------------------------------------------- */

#define ACT SV_ACT
#define T SN_THING
#define A SN_ANIMAL
#define P SN_PLACE
#define F SN_FOOD
#define PER SN_PERSON

static const story_verb verbs[] = {
    /* activities */
    {"jump", "jumped", "jumping", SV_SKILL | ACT}, {"run", "ran", "running", ACT},
    {"dance", "danced", "dancing", SV_SKILL | ACT}, {"sing", "sang", "singing", SV_SKILL | ACT},
    {"swim", "swam", "swimming", SV_SKILL | ACT}, {"skip", "skipped", "skipping", SV_SKILL | ACT},
    {"hop", "hopped", "hopping", SV_SKILL | ACT}, {"laugh", "laughed", "laughing", ACT},
    {"giggle", "giggled", "giggling", ACT}, {"skate", "skated", "skating", SV_SKILL | ACT},
    {"ski", "skied", "skiing", SV_SKILL | ACT}, {"sail", "sailed", "sailing", SV_SKILL | ACT},
    {"hike", "hiked", "hiking", ACT}, {"camp", "camped", "camping", ACT},
    {"dig", "dug", "digging", ACT}, {"knit", "knitted", "knitting", SV_SKILL | ACT},
    {"whistle", "whistled", "whistling", SV_SKILL | ACT}, {"hum", "hummed", "humming", ACT},
    {"clap", "clapped", "clapping", ACT}, {"twirl", "twirled", "twirling", SV_SKILL | ACT},
    {"march", "marched", "marching", ACT}, {"race", "raced", "racing", ACT},
    {"splash", "splashed", "splashing", ACT}, {"float", "floated", "floating", ACT},
    {"nap", "napped", "napping", ACT}, {"sleep", "slept", "sleeping", ACT},
    {"wander", "wandered", "wandering", ACT}, {"travel", "traveled", "traveling", ACT},
    {"drum", "drummed", "drumming", SV_SKILL | ACT}, {"paddle", "paddled", "paddling", SV_SKILL | ACT},
    {"smile", "smiled", "smiling", ACT}, {"wave", "waved", "waving", ACT},
    {"wiggle", "wiggled", "wiggling", ACT}, {"stretch", "stretched", "stretching", ACT},
    {"crawl", "crawled", "crawling", ACT}, {"tiptoe", "tiptoed", "tiptoeing", ACT},
    {"shout", "shouted", "shouting", ACT}, {"juggle", "juggled", "juggling", SV_SKILL | ACT},
    {"practice", "practiced", "practicing", ACT}, {"stomp", "stomped", "stomping", ACT},
    {"gallop", "galloped", "galloping", ACT}, {"zoom", "zoomed", "zooming", ACT},
    {"hurry", "hurried", "hurrying", ACT}, {"swing", "swung", "swinging", SV_SKILL | ACT},
    {"slide", "slid", "sliding", ACT}, {"leap", "leaped", "leaping", ACT},
    {"dive", "dove", "diving", SV_SKILL | ACT}, {"surf", "surfed", "surfing", SV_SKILL | ACT},
    {"row", "rowed", "rowing", SV_SKILL | ACT}, {"jog", "jogged", "jogging", ACT},
    {"cheer", "cheered", "cheering", ACT}, {"chat", "chatted", "chatting", ACT},
    {"talk", "talked", "talking", ACT}, {"pretend", "pretended", "pretending", ACT},
    {"scribble", "scribbled", "scribbling", ACT}, {"doodle", "doodled", "doodling", ACT},
    {"shop", "shopped", "shopping", ACT}, {"picnic", "picnicked", "picnicking", ACT},
    {"tumble", "tumbled", "tumbling", ACT}, {"flip", "flipped", "flipping", SV_SKILL | ACT},
    {"sled", "sledded", "sledding", SV_SKILL | ACT}, {"bike", "biked", "biking", SV_SKILL | ACT},
    {"trot", "trotted", "trotting", ACT}, {"prance", "pranced", "prancing", ACT},
    {"waddle", "waddled", "waddling", ACT}, {"flutter", "fluttered", "fluttering", ACT},
    {"scamper", "scampered", "scampering", ACT}, {"dash", "dashed", "dashing", ACT},
    {"peek", "peeked", "peeking", ACT}, {"snuggle", "snuggled", "snuggling", ACT},
    {"garden", "gardened", "gardening", SV_SKILL | ACT}, {"fish", "fished", "fishing", SV_SKILL | ACT},
    {"build", "built", "building", SV_SKILL | ACT}, {"count", "counted", "counting", SV_SKILL | ACT},
    {"rhyme", "rhymed", "rhyming", SV_SKILL | ACT}, {"yodel", "yodeled", "yodeling", SV_SKILL | ACT},
    /* activities that also take an object */
    {"play", "played", "playing", SV_SKILL | ACT | SN_MUSIC},
    {"paint", "painted", "painting", SV_SKILL | ACT | T}, {"draw", "drew", "drawing", SV_SKILL | ACT | T | A},
    {"read", "read", "reading", SV_SKILL | ACT | SN_READ},
    {"write", "wrote", "writing", SV_SKILL | ACT | SN_READ},
    {"bake", "baked", "baking", SV_SKILL | ACT | SN_BAKE},
    {"cook", "cooked", "cooking", SV_SKILL | ACT | SN_COOK},
    {"sew", "sewed", "sewing", SV_SKILL | ACT | SN_WEAR}, {"share", "shared", "sharing", ACT | T | F},
    {"help", "helped", "helping", ACT | PER | A}, {"hide", "hid", "hiding", ACT | T | F},
    {"clean", "cleaned", "cleaning", ACT | T | P}, {"explore", "explored", "exploring", ACT | P},
    {"eat", "ate", "eating", ACT | F}, {"climb", "climbed", "climbing", SV_SKILL | ACT | SN_CLIMB},
    {"color", "colored", "coloring", SV_SKILL | ACT | SN_READ | T}, {"sweep", "swept", "sweeping", ACT | P},
    {"cuddle", "cuddled", "cuddling", ACT | A | SN_SOFT}, {"bounce", "bounced", "bouncing", ACT | SN_TOY},
    {"roll", "rolled", "rolling", ACT | SN_TOY}, {"spin", "spun", "spinning", SV_SKILL | ACT | SN_TOY},
    /* verbs with an object */
    {"kick", "kicked", "kicking", SN_TOY}, {"throw", "threw", "throwing", SN_TOY},
    {"toss", "tossed", "tossing", SN_TOY}, {"catch", "caught", "catching", SN_TOY | A},
    {"push", "pushed", "pushing", SN_TOY | SN_RIDE}, {"pull", "pulled", "pulling", SN_RIDE},
    {"hold", "held", "holding", T | A | F}, {"carry", "carried", "carrying", T | A | F},
    {"find", "found", "finding", T | A | F}, {"wash", "washed", "washing", T | A | SN_FRUIT},
    {"fix", "fixed", "fixing", T}, {"open", "opened", "opening", SN_CONT | SN_READ},
    {"fill", "filled", "filling", SN_CONT}, {"drop", "dropped", "dropping", SV_OOPS | T | F},
    {"lift", "lifted", "lifting", T | A}, {"pick", "picked", "picking", SN_FRUIT | SN_PLANT},
    {"fold", "folded", "folding", SN_READ | SN_WEAR}, {"hug", "hugged", "hugging", PER | A | SN_SOFT},
    {"pet", "petted", "petting", A}, {"feed", "fed", "feeding", A},
    {"chase", "chased", "chasing", A | SN_TOY | PER}, {"follow", "followed", "following", A | PER},
    {"call", "called", "calling", PER | A}, {"meet", "met", "meeting", PER | A},
    {"tickle", "tickled", "tickling", PER | A}, {"greet", "greeted", "greeting", PER | A},
    {"taste", "tasted", "tasting", F},
    {"smell", "smelled", "smelling", F | SN_PLANT}, {"bite", "bit", "biting", F},
    {"peel", "peeled", "peeling", SN_FRUIT}, {"pour", "poured", "pouring", SN_LIQ},
    {"buy", "bought", "buying", T | F}, {"sell", "sold", "selling", T | F},
    {"bring", "brought", "bringing", T | F | A}, {"keep", "kept", "keeping", T | A},
    {"lose", "lost", "losing", SV_OOPS | T}, {"borrow", "borrowed", "borrowing", T},
    {"trade", "traded", "trading", T}, {"wrap", "wrapped", "wrapping", T | F},
    {"tie", "tied", "tying", SN_WEAR}, {"decorate", "decorated", "decorating", T | SN_BAKE | P},
    {"polish", "polished", "polishing", T}, {"shake", "shook", "shaking", T},
    {"squeeze", "squeezed", "squeezing", SN_SOFT | SN_FRUIT}, {"ride", "rode", "riding", SN_RIDE},
    {"wear", "wore", "wearing", SN_WEAR}, {"watch", "watched", "watching", A | PER},
    {"make", "made", "making", T | SN_BAKE | SN_COOK},
    {"grow", "grew", "growing", SN_FRUIT | SN_PLANT}, {"plant", "planted", "planting", SN_PLANT},
    {"water", "watered", "watering", SN_PLANT}, {"fly", "flew", "flying", SN_FLY},
    {"mend", "mended", "mending", SN_WEAR | T}, {"brush", "brushed", "brushing", A},
    {"spill", "spilled", "spilling", SV_OOPS | SN_LIQ}, {"sniff", "sniffed", "sniffing", F | SN_PLANT},
    {"save", "saved", "saving", A | PER | T}, {"rescue", "rescued", "rescuing", A},
    {"protect", "protected", "protecting", A | PER | T}, {"teach", "taught", "teaching", A | PER},
    {"collect", "collected", "collecting", SN_COLLECT}, {"pack", "packed", "packing", SN_CONT},
    {"visit", "visited", "visiting", P | PER}, {"cross", "crossed", "crossing", SN_CROSS},
    {"fetch", "fetched", "fetching", SN_TOY | T}, {"grab", "grabbed", "grabbing", T | F},
    {"pat", "patted", "patting", A}, {"scrub", "scrubbed", "scrubbing", T | P},
    {"dry", "dried", "drying", T | A}, {"kiss", "kissed", "kissing", PER | A},
    {"admire", "admired", "admiring", T | A | P}, {"guard", "guarded", "guarding", T | A},
    {"see", "saw", "seeing", A | P}, {"hear", "heard", "hearing", A | SN_MUSIC},
    {"stack", "stacked", "stacking", SN_TOY}, {"hang", "hung", "hanging", SN_WEAR},
    {"sort", "sorted", "sorting", SN_COLLECT}, {"chew", "chewed", "chewing", F},
};

#undef ACT
#undef T
#undef A
#undef P
#undef F
#undef PER

/* ---- adjectives ----------------------------------------------------------------------------------- */

#define TR SA_TRAIT
#define POS SA_POS
#define NEG SA_NEG
#define LK SA_LOOK
#define TS SA_TASTE
#define PL SA_PLACE
#define DY SA_DAY
#define FU SA_FUR

static const story_adjective adjectives[] = {
    /* characters */
    {"kind", TR}, {"brave", TR | POS}, {"curious", TR | FU}, {"shy", TR | NEG | FU},
    {"silly", TR}, {"clever", TR | FU}, {"smart", TR}, {"gentle", TR | FU},
    {"friendly", TR | FU}, {"funny", TR | LK}, {"polite", TR}, {"helpful", TR},
    {"honest", TR}, {"patient", TR}, {"careful", TR}, {"quiet", TR | PL | DY},
    {"loud", TR | PL}, {"playful", TR | FU}, {"cheerful", TR | POS}, {"bold", TR},
    {"generous", TR}, {"caring", TR}, {"sweet", TR | TS}, {"wise", TR | FU}, {"lazy", TR | FU},
    {"grumpy", TR | NEG}, {"bossy", TR}, {"messy", TR | PL}, {"neat", TR | PL},
    {"busy", TR | PL | DY}, {"strong", TR | POS}, {"fast", TR | LK}, {"quick", TR},
    {"little", TR | LK | FU | PL | TS}, {"young", TR | FU}, {"jolly", TR | POS},
    {"calm", TR | POS | PL | DY}, {"eager", TR}, {"daring", TR}, {"creative", TR},
    {"lively", TR | PL}, {"loving", TR}, {"stubborn", TR}, {"greedy", TR}, {"selfish", TR},
    {"naughty", TR | FU}, {"fussy", TR}, {"noisy", TR | PL | FU}, {"nosy", TR}, {"chatty", TR},
    {"clumsy", TR | FU}, {"tidy", TR | PL}, {"thoughtful", TR}, {"humble", TR}, {"loyal", TR},
    {"good", TR}, {"nice", TR | DY}, {"bright", TR | LK | DY}, {"happy", TR | POS},
    {"mischievous", TR}, {"adventurous", TR}, {"hardworking", TR}, {"cheeky", TR},
    {"fearless", TR | POS}, {"bouncy", TR | LK | FU}, {"cuddly", FU}, {"cute", LK | FU},
    {"impatient", TR | NEG}, {"proud", POS},
    /* good feelings */
    {"glad", POS}, {"excited", POS}, {"joyful", POS}, {"thankful", POS}, {"grateful", POS},
    {"relieved", POS}, {"delighted", POS}, {"amazed", POS}, {"hopeful", POS},
    {"cozy", POS | PL}, {"safe", POS}, {"warm", POS | LK | TS | DY | PL}, {"lucky", POS},
    {"pleased", POS}, {"merry", POS}, {"giddy", POS}, {"peaceful", POS | PL | DY},
    {"free", POS}, {"content", POS}, {"thrilled", POS}, {"loved", POS},
    {"special", POS | LK | PL},
    /* bad feelings */
    {"sad", NEG}, {"scared", NEG | FU}, {"afraid", NEG}, {"worried", NEG}, {"upset", NEG},
    {"angry", NEG}, {"mad", NEG}, {"lonely", NEG | FU}, {"tired", NEG | FU},
    {"hungry", NEG | FU}, {"thirsty", NEG | FU}, {"cold", NEG | LK | TS | DY | PL},
    {"nervous", NEG}, {"confused", NEG}, {"frustrated", NEG}, {"bored", NEG}, {"sorry", NEG},
    {"gloomy", NEG | DY}, {"cross", NEG}, {"jealous", NEG}, {"unhappy", NEG}, {"sick", NEG},
    {"dizzy", NEG}, {"embarrassed", NEG}, {"hurt", NEG}, {"frightened", NEG | FU},
    {"miserable", NEG}, {"cranky", NEG}, {"annoyed", NEG}, {"weak", NEG}, {"lost", NEG | FU},
    {"helpless", NEG}, {"uneasy", NEG}, {"shaky", NEG}, {"puzzled", NEG}, {"restless", NEG},
    {"sleepy", NEG | FU},
    /* things */
    {"red", LK}, {"blue", LK}, {"green", LK | PL}, {"yellow", LK}, {"pink", LK | FU},
    {"purple", LK}, {"orange", LK | FU}, {"brown", LK | FU}, {"black", LK | FU},
    {"white", LK | FU}, {"gray", LK | FU | DY}, {"golden", LK | FU | TS}, {"silver", LK},
    {"shiny", LK}, {"sparkly", LK}, {"dark", LK | PL}, {"big", LK | FU | PL | TS},
    {"small", LK | FU | PL}, {"tiny", LK | FU | PL}, {"huge", LK | PL}, {"giant", LK},
    {"long", LK | DY}, {"round", LK}, {"soft", LK | FU | TS}, {"smooth", LK},
    {"fluffy", FU}, {"fuzzy", FU}, {"furry", FU}, {"bumpy", LK | PL}, {"sticky", LK | TS},
    {"heavy", LK}, {"old", LK | FU | PL}, {"new", LK | PL}, {"clean", LK | PL},
    {"dirty", LK | PL | FU}, {"muddy", LK | PL | FU}, {"wet", LK | FU | DY}, {"dry", LK | DY},
    {"pretty", LK | PL | FU}, {"beautiful", LK | PL | DY | FU}, {"strange", LK | PL | FU},
    {"magic", LK | PL}, {"secret", LK | PL}, {"colorful", LK | PL | FU},
    {"striped", LK | FU}, {"spotted", LK | FU}, {"plain", LK}, {"fancy", LK},
    {"lovely", LK | PL | DY}, {"precious", LK}, {"tall", LK | PL}, {"glittery", LK},
    {"rusty", LK}, {"dusty", LK | PL}, {"broken", LK}, {"empty", LK | PL}, {"open", LK | PL},
    {"hidden", PL}, {"wild", PL | FU}, {"sunny", PL | DY}, {"shady", PL}, {"windy", DY | PL},
    {"snowy", DY | PL}, {"rainy", DY}, {"cloudy", DY}, {"foggy", DY | PL}, {"stormy", DY},
    {"chilly", DY}, {"hot", DY | TS}, {"breezy", DY}, {"crowded", PL}, {"famous", PL},
    {"faraway", PL}, {"cool", DY | PL | LK}, {"perfect", DY}, {"spooky", PL}, {"enormous", LK | PL},
    {"squeaky", LK}, {"wobbly", LK}, {"simple", LK}, {"useful", LK},
    /* food */
    {"yummy", TS}, {"tasty", TS}, {"juicy", TS}, {"crunchy", TS}, {"sour", TS}, {"salty", TS},
    {"fresh", TS}, {"ripe", TS}, {"delicious", TS}, {"spicy", TS}, {"creamy", TS},
    {"crispy", TS}, {"chewy", TS},
};

#undef TR
#undef POS
#undef NEG
#undef LK
#undef TS
#undef PL
#undef DY
#undef FU

/* ---- openings ------------------------------------------------------------------------------------- */

/* kind 0 scenes are followed by "there lived ..."; kind 1 times by "a girl named Mia went ...".
 * The third field marks openings that already name the weather or the season. */
static const story_opening openings[] = {
    {"Once upon a time,", 0, 0}, {"Long ago,", 0, 0}, {"Long, long ago,", 0, 0},
    {"A long time ago,", 0, 0}, {"Many years ago,", 0, 0}, {"Not long ago,", 0, 0},
    {"Once upon a time, in a faraway land,", 0, 0}, {"In a small town,", 0, 0},
    {"In a little village,", 0, 0}, {"In a land far away,", 0, 0},
    {"In a quiet town by the sea,", 0, 0}, {"In a hidden valley, full of flowers,", 0, 0},
    {"In a big city,", 0, 0}, {"Deep in the forest,", 0, 0}, {"Near a big blue lake,", 0, 0},
    {"On a small farm,", 0, 0}, {"At the edge of a green forest,", 0, 0},
    {"In a cozy little house,", 0, 0}, {"Far away, over the hills,", 0, 0},
    {"High up in the mountains,", 0, 0}, {"By a sparkling river,", 0, 0},
    {"In a sunny valley,", 0, 1}, {"On a tiny island,", 0, 0}, {"In a busy little town,", 0, 0},
    {"In a land of tall trees,", 0, 0}, {"In a town full of flowers,", 0, 0},
    {"Under a big blue sky,", 0, 0}, {"In a house with a red door,", 0, 0},
    {"On a quiet street,", 0, 0}, {"In a small cottage near the woods,", 0, 0},
    {"Down by the sea,", 0, 0}, {"Beyond the green hills,", 0, 0}, {"In a magical forest,", 0, 0},
    {"In a kingdom far away,", 0, 0}, {"In a snowy village,", 0, 1},
    {"Near the edge of a big meadow,", 0, 0}, {"At the top of a hill,", 0, 0},
    {"In a place with many trees,", 0, 0}, {"In a happy little town,", 0, 0},
    {"Behind a tall old wall,", 0, 0}, {"In a pretty yellow house,", 0, 0},
    {"Next to a big old oak tree,", 0, 0}, {"In a warm and sunny land,", 0, 1},
    {"In a tiny house at the end of the road,", 0, 0}, {"Once, in a land of hills and rivers,", 0, 0},
    {"In a quiet corner of the world,", 0, 0}, {"Far, far away,", 0, 0},
    {"Across the wide green fields,", 0, 0}, {"In a town by a big river,", 0, 0},
    {"Once there was a time when,", 0, 0},
    {"One day,", 1, 0}, {"One sunny day,", 1, 1}, {"One sunny morning,", 1, 1},
    {"One rainy afternoon,", 1, 1}, {"One bright morning,", 1, 1}, {"Early one morning,", 1, 0},
    {"Last summer,", 1, 1}, {"One cold winter day,", 1, 1}, {"On a warm spring day,", 1, 1},
    {"One evening,", 1, 0}, {"One fine day,", 1, 0}, {"On a cloudy day,", 1, 1},
    {"Yesterday,", 1, 0}, {"One Saturday morning,", 1, 0}, {"On a windy afternoon,", 1, 1},
    {"Every morning,", 1, 0}, {"One snowy night,", 1, 1}, {"At the start of spring,", 1, 1},
    {"On the first day of summer,", 1, 1}, {"One lazy Sunday,", 1, 0},
    {"Just before bedtime,", 1, 0}, {"Right after school one day,", 1, 0},
    {"Bright and early one morning,", 1, 0}, {"On a hot summer day,", 1, 1},
    {"One quiet morning,", 1, 0}, {"When the sun came up one day,", 1, 0},
    {"On a chilly fall morning,", 1, 1}, {"One afternoon,", 1, 0}, {"One morning,", 1, 0},
    {"After breakfast one day,", 1, 0}, {"On a stormy night,", 1, 1}, {"One foggy morning,", 1, 1},
    {"On a lovely spring morning,", 1, 1}, {"One special day,", 1, 0},
    {"On the last day of winter,", 1, 1}, {"One bright and windy day,", 1, 1},
    {"On a snowy morning,", 1, 1}, {"One day after lunch,", 1, 0}, {"One Monday morning,", 1, 0},
    {"Late one afternoon,", 1, 0}, {"On a sleepy Sunday morning,", 1, 0},
    {"One day in the spring,", 1, 1}, {"On a perfect summer day,", 1, 1},
};

static const story_words words = {
    names, ARRAY_LEN(names), nouns, ARRAY_LEN(nouns), verbs, ARRAY_LEN(verbs),
    adjectives, ARRAY_LEN(adjectives), openings, ARRAY_LEN(openings),
};

const story_words *stories_words(void) { return &words; }

static int is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

void stories_plural(const story_noun *n, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    if (n->pl || (n->tags & SN_MASS)) {
        snprintf(buf, cap, "%s", n->pl ? n->pl : n->sg);
        return;
    }
    size_t len = strlen(n->sg);
    const char *s = n->sg;
    char last = len ? s[len - 1] : 0, prev = len > 1 ? s[len - 2] : 0;
    if (last == 'y' && !is_vowel(prev))
        snprintf(buf, cap, "%.*sies", (int)(len - 1), s);
    else if (last == 's' || last == 'x' || last == 'z' || (last == 'h' && (prev == 'c' || prev == 's')))
        snprintf(buf, cap, "%ses", s);
    else
        snprintf(buf, cap, "%ss", s);
}

int stories_takes_an(const char *word)
{
    static const char *const a_before[] = {"uni", "use", "usu", "uti", "eu", "one", "once"};
    static const char *const an_before[] = {"hour", "honest", "honor", "heir"};
    char w[16];
    size_t i = 0;
    for (; word[i] && i < sizeof w - 1; i++)
        w[i] = (char)(word[i] >= 'A' && word[i] <= 'Z' ? word[i] + 32 : word[i]);
    w[i] = 0;
    for (size_t k = 0; k < sizeof an_before / sizeof *an_before; k++)
        if (strncmp(w, an_before[k], strlen(an_before[k])) == 0)
            return 1;
    for (size_t k = 0; k < sizeof a_before / sizeof *a_before; k++)
        if (strncmp(w, a_before[k], strlen(a_before[k])) == 0)
            return 0;
    return is_vowel(w[0]);
}
